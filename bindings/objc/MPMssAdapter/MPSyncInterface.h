/* MPSyncInterface: the vendor's iOS mobile-sync API (SPEC §6, guide §7.2), implemented over libmpsync. */
/* SPDX-License-Identifier: Apache-2.0 */
#import <Foundation/Foundation.h>

/*
 * Names, selectors and types are the vendor SDK's, so that apps written against MPMssAdapter.framework
 * compile unchanged. libmpsync's own additions (meta.config path, data directory, userId provider,
 * app lifecycle, shutdown) live in MPSyncInterface+MPSyncExtras.h, not here.
 *
 * Threads: every method may be called from any thread, including a notification handler. Messages
 * are posted on [NSNotificationCenter defaultCenter] from the SDK's delivery threads, never from the
 * main thread; one message per bizType is in flight until responseMessageNotify: reports it.
 *
 * Blocking: the SDK holds no lock of its own while a method below waits, so a handler may call any
 * of them while another thread is blocked in one. Three methods may wait:
 *  - bindUserWithSessionId: and unBindUser/unbindUser, for the handlers still running with the old
 *    user's messages to return (so none of them is on screen after the call); called from a handler
 *    they do not wait for other handlers;
 *  - unRegisterSyncBizWithName:syncObserver:, for a running handler of that bizType (not when called
 *    from a handler);
 *  - responseMessageNotify:, for the cache deletion to be committed (well under a millisecond
 *    typically; longer on a slow disk).
 * The others return without waiting for the network or for handlers.
 */

/** Connection state of the long-link, as returned by +connectStatus. */
typedef NS_ENUM(NSInteger, MPSyncNetConnectType) { MPSyncNetConnectTypeNotAvailable = 0,
  MPSyncNetConnectTypeConnecting, MPSyncNetConnectTypeConnected, MPSyncNetConnectTypeConnectFailed };

@interface MPSyncInterface : NSObject
/** Creates the sync client from meta.config and connects. Once per process; later calls do nothing. */
+ (void)initSync;
/** The long-link state; NotAvailable before initSync, while backgrounded and between attempts. */
+ (MPSyncNetConnectType)connectStatus;
/** Adds observer for the notification named bizName and starts dispatch of that bizType (also
 *  before initSync: the backlog is dispatched once initSync runs). NO for a nil or invalid argument. */
+ (BOOL)registerSyncBizWithName:(NSString *)bizName syncObserver:(id)observer selector:(SEL)selector;
/** Removes observer for bizName and stops dispatch of that bizType; its messages stay cached. Waits
 *  for a running handler of that bizType (unless called from a handler). */
+ (BOOL)unRegisterSyncBizWithName:(NSString *)bizName syncObserver:(id)observer;
/** Removes observer from every notification ([NSNotificationCenter removeObserver:]). */
+ (void)removeSyncNotificationObserver:(id)observer;
/** Reports the message whose notification carried userInfo as handled; anything else is ignored.
 *  Returns once the deletion from the cache is committed. */
+ (void)responseMessageNotify:(NSDictionary *)userInfo;
/** Binds the userId of the MPaaSInterface-style provider with sessionId (nil → @"SESSION_DEMO"; an
 *  empty string is refused and changes nothing, as Android's updateUserInfo("") is false).
 *  Waits for handlers running with the previous user's messages (unless called from a handler). */
+ (void)bindUserWithSessionId:(NSString *)sessionId;   // nil → @"SESSION_DEMO"
/** Unbinds the user (logout): no message of that user is posted any more, and none is being handled
 *  when it returns (unless called from a handler, which it cannot wait for). */
+ (void)unBindUser;                                      // the guide spells it unbindUser: offer both
/** The guide's spelling of unBindUser. */
+ (void)unbindUser;
/** The persisted device id (for device-dimension pushes); nil before initSync. */
+ (NSString *)getSyncDeviceId;
/** The effective configuration: meta.config keys plus what libmpsync derived from them, and the
 *  bound userId. Never the session token: "sessionIdSet" says only whether the app gave one. */
+ (NSDictionary *)getComponentEnv;
@end
