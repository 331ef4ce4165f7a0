/* libmpsync's additions to MPSyncInterface: config path, data dir, userId provider, server trust, app lifecycle, shutdown. */
/* SPDX-License-Identifier: Apache-2.0 */
#import <MPMssAdapter/MPSyncInterface.h>

/*
 * Kept out of MPSyncInterface.h so that header stays exactly the vendor's. An app that only uses the
 * vendor API never needs this file: meta.config comes from the main bundle, the data directory is
 * Application Support/mpsync, the userId comes from the app's MPaaSInterface class, and (on iOS) the
 * UIApplication foreground/background notifications drive the link.
 */

/**
 * Where bindUserWithSessionId: gets the userId. The vendor SDK asks mPaaS's MPaaSInterface for
 * -userId; an object conforming to this protocol stands in for it where mPaaS is absent.
 */
@protocol MPSyncUserIdProvider <NSObject>
/** The logged-in user's id (the linkToken the business server pushes to); nil or @"" = nobody. */
- (NSString *)userId;
@end

@interface MPSyncInterface (MPSyncConfiguration)
/** Reads meta.config from this path instead of [[NSBundle mainBundle] pathForResource:@"meta"
 *  ofType:@"config"]. Takes effect at initSync; nil restores the bundle lookup. */
+ (void)setMetaConfigPath:(NSString *)path;
/** Keeps the SQLite cache in this directory instead of <Application Support>/mpsync. Takes effect at
 *  initSync; the same directory keeps the same device id. */
+ (void)setDataDirectory:(NSString *)path;
/** The userId source for bindUserWithSessionId: (retained). nil = use the class named MPaaSInterface
 *  when the app has one: [[MPaaSInterface sharedInstance] userId]. */
+ (void)setUserIdProvider:(id<MPSyncUserIdProvider>)provider;
@end

/**
 * Decides whether the sync server may be trusted, as SecTrust would: the app's own policy (a
 * private CA, an MDM profile's rules) or a test's.
 */
@protocol MPSyncServerTrustVerifier <NSObject>
/** \p chain: the certificates the server sent, each an NSData of DER, leaf first; \p host: the
 *  name the leaf must carry. YES trusts the server. Its verdict is final: the chain is not checked
 *  against anything else (pins in meta.config, mpsyncPin, still apply before it), so it must check
 *  the chain *and* the host name. Called on the SDK's network thread during each TLS handshake:
 *  return quickly, as no message moves meanwhile; an exception it raises refuses the server. */
- (BOOL)shouldTrustServerChain:(NSArray *)chain host:(NSString *)host;
@end

/*
 * Server trust. On Apple platforms, when meta.config names no mpsyncCaFile, the shim verifies the
 * server with SecTrust (the system's trust store and SSL policy for the host, as URLSession does):
 * there is no CA file on iOS for the core to read. With mpsyncCaFile, the core checks against that
 * file instead. Elsewhere (GNUstep) the core checks against mpsyncCaFile or the system store.
 */
@interface MPSyncInterface (MPSyncTrust)
/** Verifies the server with \p verifier (retained) instead, whose verdict is final; nil restores
 *  the default above. Takes effect at initSync. */
+ (void)setServerTrustVerifier:(id<MPSyncServerTrustVerifier>)verifier;
@end

/*
 * App lifecycle. On iOS the shim observes UIApplicationWillEnterForegroundNotification and
 * UIApplicationDidEnterBackgroundNotification itself (by name, so GNUstep tests can post the same
 * names); these methods are what those notifications call, public for platforms without UIKit.
 */
@interface MPSyncInterface (MPSyncLifecycle)
/** The app is in the foreground: connect (or keep) the link and redeliver unreported messages now. */
+ (void)applicationWillEnterForeground;
/** The app went to the background: close the link; nothing is received until the next foreground. */
+ (void)applicationDidEnterBackground;
/** Closes the link and the cache and stops the SDK threads; initSync may be called again afterwards.
 *  For tests and orderly teardown; never from a notification handler running on the delivery thread. */
+ (void)shutdownSync;
@end
