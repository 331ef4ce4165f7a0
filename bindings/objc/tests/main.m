/* Objective-C tests of MPSyncInterface against the mock server; one case per run, named on the command line. */
/* SPDX-License-Identifier: Apache-2.0 */
#import <Foundation/Foundation.h>
#import <MPMssAdapter/MPSyncInterface.h>
#import <MPMssAdapter/MPSyncInterface+MPSyncExtras.h>

#import "MPaaSInterface.h"
#import "MySyncService.h"
#import "harness.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The mock server's answers that mean "stored": pushed now, or kept for the next connect. */
#define CHECK_PUSHED(answer)                                                                    \
  do {                                                                                          \
    NSString *ans_ = (answer);                                                                  \
    if (!([ans_ isEqual:@"SUCCESS"] || [ans_ isEqual:@"NOT_ONLINE"]))                           \
      test_fail(__FILE__, __LINE__, [NSString stringWithFormat:@"push answered %@", ans_]);     \
  } while (0)

static void post_lifecycle(NSString *name) {
  /* The names UIKit posts on iOS; the shim observes them, so this is the path an app takes. */
  [[NSNotificationCenter defaultCenter] postNotificationName:name object:nil];
}
#define FOREGROUND @"UIApplicationWillEnterForegroundNotification"
#define BACKGROUND @"UIApplicationDidEnterBackgroundNotification"

static BOOL wait_oplogs(TestObserver *obs, NSUInteger n, double seconds) {
  NSDate *end = [NSDate dateWithTimeIntervalSinceNow:seconds];
  while ([[obs oplogs] count] < n) {
    if ([end timeIntervalSinceNow] <= 0) return NO;
    spin(0.02);
  }
  return YES;
}

static BOOL wait_status(MPSyncNetConnectType want, double seconds) {
  NSDate *end = [NSDate dateWithTimeIntervalSinceNow:seconds];
  while ([MPSyncInterface connectStatus] != want) {
    if ([end timeIntervalSinceNow] <= 0) return NO;
    spin(0.02);
  }
  return YES;
}

static NSArray *third_ids(NSArray *oplogs) {
  NSMutableArray *ids = [NSMutableArray array];
  for (NSUInteger i = 0; i < [oplogs count]; i++)
    [ids addObject:[[oplogs objectAtIndex:i] objectForKey:@"bId"]];
  return ids;
}

static NSArray *strings(NSString *first, ...) {
  NSMutableArray *a = [NSMutableArray array];
  va_list ap;
  va_start(ap, first);
  for (NSString *s = first; s != nil; s = va_arg(ap, NSString *)) [a addObject:s];
  va_end(ap);
  return a;
}

static NSString *user_of(NSDictionary *info) { return [info objectForKey:@"userId"]; }

/* Waits until an oplog with this thirdMsgId has reached the observer. */
static BOOL wait_third(TestObserver *obs, NSString *third, double seconds) {
  NSDate *end = [NSDate dateWithTimeIntervalSinceNow:seconds];
  while (![third_ids([obs oplogs]) containsObject:third]) {
    if ([end timeIntervalSinceNow] <= 0) return NO;
    spin(0.02);
  }
  return YES;
}

/* An MPSyncUserIdProvider set in code, for apps without mPaaS. */
@interface FixedUser : NSObject <MPSyncUserIdProvider> {
  NSString *uid;
}
- (id)initWithUserId:(NSString *)u;
@end
@implementation FixedUser
- (id)initWithUserId:(NSString *)u {
  if ((self = [super init])) uid = [u copy];
  return self;
}
- (void)dealloc {
  [uid release];
  [super dealloc];
}
- (NSString *)userId { return uid; }
@end

/* An observer whose first notification raises, as a buggy app handler might. */
@interface RaisingObserver : TestObserver {
  BOOL raised;
}
@end
@implementation RaisingObserver
- (void)onSync:(NSNotification *)note {
  BOOL first = !raised;
  raised = YES;
  [super onSync:note];
  if (first) [NSException raise:@"AppBug" format:@"handler failed"];
  [MPSyncInterface responseMessageNotify:[note userInfo]];
}
@end

/* Flags shared between the main thread, the SDK's delivery thread and a test thread (gcc's
 * Objective-C has no _Atomic; its __atomic builtins do the same). */
#define FLAG_GET(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define FLAG_SET(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define FLAG_SWAP(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)

/* An observer that, when armed, holds its next notification until the test says a bind or unbind
 * is under way on another thread, then responds from inside the handler: the guide's pattern, run
 * while the SDK waits for this very handler to return. */
@interface HoldingObserver : TestObserver {
 @public
  int armed;    /* hold the next notification */
  int entered;  /* a held handler is running */
  int released; /* the test's other thread has started its call */
  int returned; /* the held handler got past responseMessageNotify: */
}
@end
@implementation HoldingObserver
- (void)onSync:(NSNotification *)note {
  [super onSync:note];
  if (!FLAG_SWAP(&armed, 0)) {
    [MPSyncInterface responseMessageNotify:[note userInfo]];
    return;
  }
  FLAG_SET(&entered, 1);
  for (int i = 0; i < 1000 && !FLAG_GET(&released); i++) usleep(10000);
  usleep(300000); /* let the other thread's call reach the SDK's wait for this handler */
  [MPSyncInterface responseMessageNotify:[note userInfo]];
  FLAG_SET(&returned, 1);
}
@end

/* Runs a bind or unbind on its own thread so the main thread can put a deadline on it. */
@interface UserSwitcher : NSObject {
 @public
  HoldingObserver *obs;
  NSString *sessionId; /* nil: unBindUser */
  int done;
}
- (void)run:(id)unused;
@end
@implementation UserSwitcher
- (void)run:(id)unused {
  (void)unused;
  NSAutoreleasePool *pool = [[NSAutoreleasePool alloc] init];
  FLAG_SET(&obs->released, 1);
  if (sessionId)
    [MPSyncInterface bindUserWithSessionId:sessionId];
  else
    [MPSyncInterface unBindUser];
  FLAG_SET(&done, 1);
  [pool drain];
}
@end

/* Starts the switch while obs holds a handler, and fails (rather than hangs) if either side is
 * still blocked after the deadline. */
static void switch_user_while_handler_reports(HoldingObserver *obs, NSString *sessionId,
                                              const char *what) {
  NSDate *end = [NSDate dateWithTimeIntervalSinceNow:10];
  while (!FLAG_GET(&obs->entered) && [end timeIntervalSinceNow] > 0) spin(0.02);
  CHECK(FLAG_GET(&obs->entered));
  UserSwitcher *sw = [[[UserSwitcher alloc] init] autorelease];
  sw->obs = obs;
  sw->sessionId = sessionId;
  [NSThread detachNewThreadSelector:@selector(run:) toTarget:sw withObject:nil];
  end = [NSDate dateWithTimeIntervalSinceNow:10];
  while (!(FLAG_GET(&sw->done) && FLAG_GET(&obs->returned)) && [end timeIntervalSinceNow] > 0)
    spin(0.02);
  if (!FLAG_GET(&sw->done) || !FLAG_GET(&obs->returned))
    test_fail(__FILE__, __LINE__,
              [NSString stringWithFormat:@"deadlock: after 10 s %s %s, and the handler calling "
                                          "responseMessageNotify: %s",
                                         what, FLAG_GET(&sw->done) ? "returned" : "is still blocked",
                                         FLAG_GET(&obs->returned) ? "returned" : "is still blocked"]);
  FLAG_SET(&obs->entered, 0);
  FLAG_SET(&obs->released, 0);
  FLAG_SET(&obs->returned, 0);
}

/* Calls into MPSyncInterface in a loop on its own thread until told to stop: one kind per thread. */
@interface Hammer : NSObject {
 @public
  int kind;
  int stop;
  int running;
  NSDictionary *stale; /* a well-formed userInfo whose id is not in flight */
}
- (void)run:(id)unused;
@end
@implementation Hammer
- (void)run:(id)unused {
  (void)unused;
  FLAG_SET(&running, 1);
  for (unsigned long i = 0; !FLAG_GET(&stop); i++) {
    NSAutoreleasePool *pool = [[NSAutoreleasePool alloc] init];
    switch (kind) {
      case 0: [MPSyncInterface responseMessageNotify:stale]; break;
      case 1:
        if (i % 2) [MPSyncInterface bindUserWithSessionId:@"S1"];
        else [MPSyncInterface unBindUser];
        break;
      case 2:
        if (i % 2) [MPSyncInterface applicationWillEnterForeground];
        else [MPSyncInterface applicationDidEnterBackground];
        (void)[MPSyncInterface getSyncDeviceId];
        break;
    }
    [pool drain];
    if (kind != 0) usleep(100); /* these queue commands; flat out they pile up in the SDK */
  }
  FLAG_SET(&running, 0);
}
@end

/* ------------------------------------------------------------------------------------- cases */

/* obs observes biz, then initSync with u1 bound (session S1), connected. */
static void start_u1_observing(TestObserver *obs, NSString *biz) {
  CHECK([MPSyncInterface registerSyncBizWithName:biz syncObserver:obs selector:@selector(onSync:)]);
  [[MPaaSInterface sharedInstance] setUserId:@"u1"];
  [MPSyncInterface initSync];
  [MPSyncInterface bindUserWithSessionId:@"S1"];
  CHECK(wait_connected(10));
}

/* The usual start. */
static void start_u1_with_uchat(TestObserver *obs) { start_u1_observing(obs, @"UCHAT"); }

/* The guide's sample, run as shipped (adapted only as its file says): it receives, handles on the
 * main thread and acknowledges; an acknowledged message never comes back. */
static void sample_receives_and_acknowledges(TestEnv *env) {
  NSString *user = @"2088102147396225";
  [[MPaaSInterface sharedInstance] setUserId:user];
  [MySyncService sharedInstance];
  CHECK(wait_connected(10));
  NSString *text = @"{\"name\":\"李四\",\"age\":\"30\"}";
  const char raw[] = "binary \xe4\xb8\xad\x01";
  NSData *bin = [NSData dataWithBytes:raw length:sizeof raw - 1];
  CHECK_PUSHED([env pushBiz:@"SYNC-TRADE-DATA" to:user third:@"demo-text-1" text:text]);
  CHECK_PUSHED([env pushBiz:@"SYNC-TRADE-DATA" to:user third:@"demo-bin-1" binary:bin]);
  NSDate *end = [NSDate dateWithTimeIntervalSinceNow:10];
  while ([MySyncService respondedCount] < 2 && [end timeIntervalSinceNow] > 0) spin(0.02);
  NSArray *got = [MySyncService received];
  CHECK([got count] == 2);
  CHECK_EQ_STR([got objectAtIndex:0], text);
  CHECK([[got objectAtIndex:1] isEqual:bin]);
  /* Acknowledged: a foreground (which redelivers whatever is unreported at once) brings nothing. */
  post_lifecycle(FOREGROUND);
  spin(1.5);
  CHECK([[MySyncService received] count] == 2);
  /* And the next message is dispatched. */
  CHECK_PUSHED([env pushBiz:@"SYNC-TRADE-DATA" to:user third:@"demo-text-2" text:@"second"]);
  end = [NSDate dateWithTimeIntervalSinceNow:10];
  while ([MySyncService respondedCount] < 3 && [end timeIntervalSinceNow] > 0) spin(0.02);
  CHECK([[MySyncService received] count] == 3);
  CHECK_EQ_STR([[MySyncService received] objectAtIndex:2], @"second");
}

/* Text, 4096 Chinese characters and binary, on two bizTypes: each observer gets only its own, with
 * the vendor's "op" JSON, the SDK's keys, off the main thread. */
static void text_binary_chinese_on_two_biz_types(TestEnv *env) {
  TestObserver *chat = [[TestObserver alloc] init], *trade = [[TestObserver alloc] init];
  [chat setAutoRespond:YES];
  [trade setAutoRespond:YES];
  CHECK([MPSyncInterface registerSyncBizWithName:@"SYNC-TRADE-DATA" syncObserver:trade
                                        selector:@selector(onSync:)]);
  start_u1_with_uchat(chat);

  NSMutableString *zh = [NSMutableString string];
  while ([zh length] < 4096) [zh appendString:@"数据同步"];
  unsigned char bytes[256];
  for (int i = 0; i < 256; i++) bytes[i] = (unsigned char)i;
  NSData *bin = [NSData dataWithBytes:bytes length:sizeof bytes];
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u1" third:@"c1" text:@"hello"]);
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u1" third:@"c2" text:zh]);
  CHECK_PUSHED([env pushBiz:@"SYNC-TRADE-DATA" to:@"u1" third:@"t1" binary:bin]);
  CHECK_PUSHED([env pushBiz:@"SYNC-TRADE-DATA" to:@"u1" third:@"t2" text:@"交易 42"]);
  CHECK(wait_oplogs(chat, 2, 10));
  CHECK(wait_oplogs(trade, 2, 10));
  spin(0.5); /* nothing else may arrive */

  NSArray *c = [chat oplogs], *t = [trade oplogs];
  CHECK([c count] == 2 && [t count] == 2);
  CHECK([third_ids(c) isEqual:strings(@"c1", @"c2", nil)]);
  CHECK([third_ids(t) isEqual:strings(@"t1", @"t2", nil)]);
  CHECK_EQ_STR([[c objectAtIndex:0] objectForKey:@"pl"], @"hello");
  CHECK_EQ_STR([[c objectAtIndex:1] objectForKey:@"pl"], zh);
  CHECK([[c objectAtIndex:0] objectForKey:@"isB"] == nil);
  CHECK_EQ_STR([[t objectAtIndex:0] objectForKey:@"isB"], @"1");
  NSData *decoded = [[[NSData alloc]
      initWithBase64EncodedString:[[t objectAtIndex:0] objectForKey:@"pl"]
                          options:0] autorelease];
  CHECK([decoded isEqual:bin]);
  CHECK_EQ_STR([[t objectAtIndex:1] objectForKey:@"pl"], @"交易 42");
  CHECK([[t objectAtIndex:1] objectForKey:@"isB"] == nil);
  /* "mk" oplog ids are numbers, increasing within a stream; "mct" a creation time in ms. */
  long long mk0 = [[[c objectAtIndex:0] objectForKey:@"mk"] longLongValue];
  long long mk1 = [[[c objectAtIndex:1] objectForKey:@"mk"] longLongValue];
  CHECK(mk0 > 0 && mk1 > mk0);
  CHECK([[[c objectAtIndex:0] objectForKey:@"mct"] longLongValue] > 1600000000000LL);

  /* Every notification: named by its bizType, the SDK's keys beside "op", posted off the main thread. */
  TestObserver *obs[2] = {chat, trade};
  NSString *biz[2] = {@"UCHAT", @"SYNC-TRADE-DATA"};
  for (int k = 0; k < 2; k++) {
    for (NSUInteger i = 0; i < [obs[k] count]; i++) {
      NSDictionary *info = [obs[k] userInfoAt:i];
      CHECK_EQ_STR([obs[k] nameAt:i], biz[k]);
      CHECK_EQ_STR([info objectForKey:@"biz"], biz[k]);
      CHECK_EQ_STR(user_of(info), @"u1");
      CHECK([[info objectForKey:@"id"] length] > 0);
      CHECK([[info objectForKey:@"op"] isKindOfClass:[NSString class]]);
      CHECK([[info objectForKey:@"delivery"] intValue] == 1);
      CHECK([info objectForKey:@"hasMore"] != nil);
      CHECK(![obs[k] onMainAt:i]);
    }
  }
  [MPSyncInterface removeSyncNotificationObserver:chat];
  [MPSyncInterface removeSyncNotificationObserver:trade];
}

/* Observers registered before initSync (as an app does at launch) get the backlog the server kept. */
static void register_before_init_gets_backlog(TestEnv *env) {
  TestObserver *obs = [[TestObserver alloc] init];
  [obs setAutoRespond:YES];
  /* Names the core would refuse are refused here already. */
  CHECK(![MPSyncInterface registerSyncBizWithName:nil syncObserver:obs selector:@selector(onSync:)]);
  CHECK(![MPSyncInterface registerSyncBizWithName:@"" syncObserver:obs selector:@selector(onSync:)]);
  CHECK(![MPSyncInterface registerSyncBizWithName:@"HAS SPACE" syncObserver:obs
                                         selector:@selector(onSync:)]);
  CHECK(![MPSyncInterface registerSyncBizWithName:@"UCHAT" syncObserver:nil
                                         selector:@selector(onSync:)]);
  CHECK([MPSyncInterface registerSyncBizWithName:@"UCHAT" syncObserver:obs
                                        selector:@selector(onSync:)]);
  for (int i = 0; i < 3; i++) {
    NSString *third = [NSString stringWithFormat:@"b%d", i];
    CHECK_EQ_STR([env pushBiz:@"UCHAT" to:@"u1" third:third text:@"离线"], @"NOT_ONLINE");
  }
  [[MPaaSInterface sharedInstance] setUserId:@"u1"];
  [MPSyncInterface initSync];
  [MPSyncInterface bindUserWithSessionId:@"S1"];
  CHECK(wait_oplogs(obs, 3, 10));
  CHECK([third_ids([obs oplogs]) isEqual:strings(@"b0", @"b1", @"b2", nil)]);
  [MPSyncInterface removeSyncNotificationObserver:obs];
}

/* A bizType nobody registered is cached, not dispatched; register dispatches it; unRegister stops
 * dispatch and keeps what arrives; register again resumes. */
static void unregister_keeps_backlog_until_register(TestEnv *env) {
  /* Sees every post named UCHAT, whether or not the SDK was asked to dispatch UCHAT. */
  TestObserver *raw = [[TestObserver alloc] init];
  [[NSNotificationCenter defaultCenter] addObserver:raw selector:@selector(onSync:)
                                               name:@"UCHAT" object:nil];
  [[MPaaSInterface sharedInstance] setUserId:@"u1"];
  [MPSyncInterface initSync];
  [MPSyncInterface bindUserWithSessionId:@"S1"];
  CHECK(wait_connected(10));
  for (int i = 0; i < 3; i++) {
    NSString *third = [NSString stringWithFormat:@"k%d", i];
    CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u1" third:third text:@"x"]);
  }
  spin(1.0);
  CHECK([raw count] == 0);

  TestObserver *obs = [[TestObserver alloc] init];
  [obs setAutoRespond:YES];
  CHECK([MPSyncInterface registerSyncBizWithName:@"UCHAT" syncObserver:obs
                                        selector:@selector(onSync:)]);
  CHECK(wait_oplogs(obs, 3, 10));
  CHECK([third_ids([obs oplogs]) isEqual:strings(@"k0", @"k1", @"k2", nil)]);

  CHECK([MPSyncInterface unRegisterSyncBizWithName:@"UCHAT" syncObserver:obs]);
  NSUInteger rawBefore = [raw count], obsBefore = [obs count];
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u1" third:@"k3" text:@"x"]);
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u1" third:@"k4" text:@"x"]);
  spin(1.0);
  CHECK([raw count] == rawBefore);
  CHECK([obs count] == obsBefore);

  CHECK([MPSyncInterface registerSyncBizWithName:@"UCHAT" syncObserver:obs
                                        selector:@selector(onSync:)]);
  CHECK(wait_oplogs(obs, 5, 10));
  CHECK([third_ids([obs oplogs]) isEqual:strings(@"k0", @"k1", @"k2", @"k3", @"k4", nil)]);
  [MPSyncInterface removeSyncNotificationObserver:obs];
  [MPSyncInterface removeSyncNotificationObserver:raw];
}

/* User data reaches only its user: unbind / switch / unbind (the guide's spelling) / bind back; the
 * device bizType is not affected; bindUserWithSessionId:nil means SESSION_DEMO. */
static void bind_unbind_isolates_users(TestEnv *env) {
  TestObserver *chat = [[TestObserver alloc] init], *dev = [[TestObserver alloc] init];
  [chat setAutoRespond:YES];
  [dev setAutoRespond:YES];
  CHECK([MPSyncInterface registerSyncBizWithName:@"UCHAT" syncObserver:chat
                                        selector:@selector(onSync:)]);
  CHECK([MPSyncInterface registerSyncBizWithName:@"DEVLOCK" syncObserver:dev
                                        selector:@selector(onSync:)]);
  [[MPaaSInterface sharedInstance] setUserId:@"u1"];
  [MPSyncInterface initSync];
  [MPSyncInterface bindUserWithSessionId:nil];
  CHECK_EQ_STR([[MPSyncInterface getComponentEnv] objectForKey:@"sessionIdSet"], @"NO");
  CHECK_EQ_STR([[MPSyncInterface getComponentEnv] objectForKey:@"userId"], @"u1");
  CHECK(wait_connected(10));
  NSString *device = [MPSyncInterface getSyncDeviceId];

  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u1" third:@"a1" text:@"for u1"]);
  CHECK(wait_oplogs(chat, 1, 10));
  CHECK_EQ_STR(user_of([chat userInfoAt:0]), @"u1");

  /* Switch to u2 (a provider set in code replaces MPaaSInterface). */
  [MPSyncInterface unBindUser];
  FixedUser *u2 = [[[FixedUser alloc] initWithUserId:@"u2"] autorelease];
  [MPSyncInterface setUserIdProvider:u2];
  [MPSyncInterface bindUserWithSessionId:@"S2"];
  CHECK(wait_connected(10));
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u1" third:@"a2" text:@"for u1"]);
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u2" third:@"b1" text:@"for u2"]);
  CHECK_PUSHED([env pushBiz:@"DEVLOCK" to:device third:@"d1" text:@"for the device"]);
  CHECK(wait_oplogs(chat, 2, 10));
  CHECK(wait_oplogs(dev, 1, 10));
  spin(1.0);
  CHECK([third_ids([chat oplogs]) isEqual:strings(@"a1", @"b1", nil)]);
  CHECK_EQ_STR(user_of([chat userInfoAt:[chat count] - 1]), @"u2");
  CHECK_EQ_STR(user_of([dev userInfoAt:0]), @"");

  /* Logged out: nobody's user data, device data still flows. */
  [MPSyncInterface unbindUser];
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u2" third:@"b2" text:@"for u2"]);
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u1" third:@"a3" text:@"for u1"]);
  CHECK_PUSHED([env pushBiz:@"DEVLOCK" to:device third:@"d2" text:@"for the device"]);
  CHECK(wait_oplogs(dev, 2, 10));
  spin(1.0);
  CHECK([[chat oplogs] count] == 2);

  /* u1 again (back to MPaaSInterface): his undelivered data resumes, u2's never shows. */
  [MPSyncInterface setUserIdProvider:nil];
  [MPSyncInterface bindUserWithSessionId:nil];
  CHECK(wait_oplogs(chat, 4, 10));
  spin(1.0);
  CHECK([third_ids([chat oplogs]) isEqual:strings(@"a1", @"b1", @"a2", @"a3", nil)]);
  CHECK_EQ_STR(user_of([chat userInfoAt:[chat count] - 1]), @"u1");
  [MPSyncInterface removeSyncNotificationObserver:chat];
  [MPSyncInterface removeSyncNotificationObserver:dev];
}

/* Not responding → the same message again after the back-off (5 s) and at once at the next
 * foreground; an observer that raises does not hurt the SDK and gets its message again. */
static void unreported_message_is_redelivered(TestEnv *env) {
  TestObserver *obs = [[TestObserver alloc] init];
  RaisingObserver *bad = [[RaisingObserver alloc] init];
  CHECK([MPSyncInterface registerSyncBizWithName:@"SYNC-TRADE-DATA" syncObserver:bad
                                        selector:@selector(onSync:)]);
  start_u1_with_uchat(obs);
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u1" third:@"r1" text:@"answer me"]);
  CHECK_PUSHED([env pushBiz:@"SYNC-TRADE-DATA" to:@"u1" third:@"x1" text:@"raise on me"]);
  CHECK(wait_count(obs, 1, 10));
  CHECK(wait_count(bad, 1, 10));
  NSDate *first = [NSDate date];
  NSString *mk = [[parse_op([obs userInfoAt:0]) objectAtIndex:0] objectForKey:@"mk"];

  CHECK(wait_count(obs, 2, 9));
  double waited = -[first timeIntervalSinceNow];
  CHECK(waited > 3.0); /* the back-off, not an immediate repeat */
  CHECK([[[parse_op([obs userInfoAt:1]) objectAtIndex:0] objectForKey:@"mk"] isEqual:mk]);
  CHECK([[[obs userInfoAt:1] objectForKey:@"delivery"] intValue] == 2);
  CHECK(wait_count(bad, 2, 5)); /* the raising observer's message came back too */

  /* Handed out before the app left the screen: it comes again when the app returns. */
  post_lifecycle(BACKGROUND);
  post_lifecycle(FOREGROUND);
  CHECK(wait_count(obs, 3, 1.5));
  CHECK([[[parse_op([obs userInfoAt:2]) objectAtIndex:0] objectForKey:@"mk"] isEqual:mk]);

  [MPSyncInterface responseMessageNotify:[obs userInfoAt:2]];
  post_lifecycle(FOREGROUND);
  spin(1.0);
  CHECK([obs count] == 3);
  CHECK([bad count] == 2); /* it responded on the second delivery */
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u1" third:@"r2" text:@"next"]);
  CHECK(wait_count(obs, 4, 10));
  CHECK([third_ids(parse_op([obs userInfoAt:3])) isEqual:strings(@"r2", nil)]);
  [MPSyncInterface removeSyncNotificationObserver:obs];
  [MPSyncInterface removeSyncNotificationObserver:bad];
}

/* responseMessageNotify: with anything but the userInfo of the message in flight reports nothing. */
static void foreign_dictionary_is_ignored(TestEnv *env) {
  TestObserver *obs = [[TestObserver alloc] init];
  start_u1_with_uchat(obs);
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u1" third:@"f1" text:@"keep me"]);
  CHECK(wait_count(obs, 1, 10));
  NSDictionary *info = [obs userInfoAt:0];

  [MPSyncInterface responseMessageNotify:nil];
  [MPSyncInterface responseMessageNotify:[NSDictionary dictionary]];
  [MPSyncInterface responseMessageNotify:(NSDictionary *)@"not a dictionary"];
  [MPSyncInterface responseMessageNotify:[NSDictionary dictionaryWithObject:@"[]" forKey:@"op"]];
  [MPSyncInterface responseMessageNotify:[NSDictionary dictionaryWithObjectsAndKeys:
      @"[]", @"op", @"UCHAT", @"biz", @"garbage", @"id", nil]];
  [MPSyncInterface responseMessageNotify:[NSDictionary dictionaryWithObjectsAndKeys:
      @"[]", @"op", @"UCHAT", @"biz", @"999999,999999,1", @"id", nil]];
  [MPSyncInterface responseMessageNotify:[NSDictionary dictionaryWithObjectsAndKeys:
      @"[]", @"op", [NSNumber numberWithInt:1], @"biz", [info objectForKey:@"id"], @"id", nil]];
  NSMutableDictionary *otherBiz = [NSMutableDictionary dictionaryWithDictionary:info];
  [otherBiz setObject:@"SYNC-TRADE-DATA" forKey:@"biz"];
  [MPSyncInterface responseMessageNotify:otherBiz];
  NSMutableDictionary *noOp = [NSMutableDictionary dictionaryWithDictionary:info];
  [noOp removeObjectForKey:@"op"];
  [MPSyncInterface responseMessageNotify:noOp];

  /* Still in flight: back from the background, the app gets it again at once. */
  post_lifecycle(BACKGROUND);
  post_lifecycle(FOREGROUND);
  CHECK(wait_count(obs, 2, 2));
  CHECK([third_ids(parse_op([obs userInfoAt:1])) isEqual:strings(@"f1", nil)]);
  /* Its own userInfo reports it: nothing comes back. */
  [MPSyncInterface responseMessageNotify:[obs userInfoAt:1]];
  post_lifecycle(FOREGROUND);
  spin(1.0);
  CHECK([obs count] == 2);
  [MPSyncInterface removeSyncNotificationObserver:obs];
}

/* connectStatus follows the core's state through init, background, foreground, shutdown and a lost
 * server; the device id is stable across a restart; getComponentEnv is the effective config. */
static void status_device_id_and_env(TestEnv *env) {
  CHECK([MPSyncInterface connectStatus] == MPSyncNetConnectTypeNotAvailable);
  CHECK([MPSyncInterface getSyncDeviceId] == nil);
  CHECK([[MPSyncInterface getComponentEnv] count] == 0);
  [[MPaaSInterface sharedInstance] setUserId:@"u1"];
  [MPSyncInterface initSync];
  [MPSyncInterface initSync]; /* once per process: the second call changes nothing */
  CHECK(wait_connected(10));
  NSString *device = [MPSyncInterface getSyncDeviceId];
  CHECK([device length] >= 24);
  CHECK_EQ_STR([MPSyncInterface getSyncDeviceId], device);

  NSDictionary *e = [MPSyncInterface getComponentEnv];
  CHECK_EQ_STR([e objectForKey:@"instanceId"], @"test_TESTAPP");
  CHECK_EQ_STR([e objectForKey:@"appId"], @"TESTAPP");
  CHECK_EQ_STR([e objectForKey:@"workspaceId"], @"test");
  CHECK_EQ_STR([e objectForKey:@"syncserver"], @"127.0.0.1");
  CHECK_EQ_STR([e objectForKey:@"host"], @"127.0.0.1");
  CHECK([[e objectForKey:@"port"] intValue] == [env linkPort]);
  CHECK([[e objectForKey:@"syncport"] intValue] == [env linkPort]);
  CHECK([[e objectForKey:@"plaintext"] boolValue]);
  CHECK_EQ_STR([e objectForKey:@"osType"], @"IOS");
  CHECK_EQ_STR([e objectForKey:@"deviceId"], device);
  CHECK([[e objectForKey:@"dataDir"] hasSuffix:@"client/sync"]);
  CHECK([e objectForKey:@"userId"] == nil);

  /* C23: online through the background grace (1.5 s in the tests' meta.config), then not. */
  post_lifecycle(BACKGROUND);
  spin(0.5);
  CHECK([MPSyncInterface connectStatus] == MPSyncNetConnectTypeConnected);
  CHECK(wait_status(MPSyncNetConnectTypeNotAvailable, 4));
  spin(0.3);
  CHECK([MPSyncInterface connectStatus] == MPSyncNetConnectTypeNotAvailable);
  post_lifecycle(FOREGROUND);
  CHECK(wait_connected(5));

  /* A restart on the same data directory keeps the device id. */
  [MPSyncInterface shutdownSync];
  CHECK([MPSyncInterface connectStatus] == MPSyncNetConnectTypeNotAvailable);
  CHECK([MPSyncInterface getSyncDeviceId] == nil);
  [MPSyncInterface initSync];
  CHECK(wait_connected(10));
  CHECK_EQ_STR([MPSyncInterface getSyncDeviceId], device);

  /* The server goes away: the reconnect attempts fail. */
  [env stopServer];
  CHECK(wait_status(MPSyncNetConnectTypeConnectFailed, 10));
}

/* Issue 12 defect 3: a handler that calls responseMessageNotify: (the guide's pattern) while another
 * thread binds another user or unbinds. bind/unbind wait for the old user's running handlers; the
 * shim must not hold its lock meanwhile, or the handler waits for the bind and the bind for it. */
static void bind_unbind_while_handler_reports(TestEnv *env) {
  HoldingObserver *obs = [[HoldingObserver alloc] init];
  start_u1_with_uchat(obs);

  FLAG_SET(&obs->armed, 1);
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u1" third:@"h1" text:@"held by u1's handler"]);
  [[MPaaSInterface sharedInstance] setUserId:@"u2"];
  switch_user_while_handler_reports(obs, @"S2", "bindUserWithSessionId: (u1 -> u2)");
  CHECK(wait_connected(10));
  CHECK_EQ_STR([[MPSyncInterface getComponentEnv] objectForKey:@"userId"], @"u2");

  FLAG_SET(&obs->armed, 1);
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u2" third:@"h2" text:@"held by u2's handler"]);
  switch_user_while_handler_reports(obs, nil, "unBindUser");
  CHECK([[MPSyncInterface getComponentEnv] objectForKey:@"userId"] == nil);

  /* The SDK still works afterwards: u1 again gets only what is his. */
  [[MPaaSInterface sharedInstance] setUserId:@"u1"];
  [MPSyncInterface bindUserWithSessionId:@"S1"];
  CHECK(wait_connected(10));
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u1" third:@"h3" text:@"after"]);
  CHECK(wait_third(obs, @"h3", 10));
  for (NSUInteger i = 0; i < [obs count]; i++) {
    NSArray *ids = third_ids(parse_op([obs userInfoAt:i]));
    NSString *user = user_of([obs userInfoAt:i]);
    CHECK(![ids containsObject:@"h2"] || [user isEqual:@"u2"]);
    CHECK(!([ids containsObject:@"h1"] || [ids containsObject:@"h3"]) || [user isEqual:@"u1"]);
  }
  [MPSyncInterface removeSyncNotificationObserver:obs];
}

/* Whether text appears in any key or value of a getComponentEnv dictionary. */
static BOOL env_mentions(NSDictionary *e, NSString *secret) {
  for (id key in e) {
    if ([[key description] rangeOfString:secret].location != NSNotFound) return YES;
    if ([[[e objectForKey:key] description] rangeOfString:secret].location != NSNotFound) return YES;
  }
  return NO;
}

/* Issue 17: getComponentEnv is diagnostics that apps log and send; the session token is a secret.
 * It says only whether the app gave one (bound before and after initSync, defaulted, unbound). */
static void component_env_has_no_session_id(TestEnv *env) {
  (void)env;
  NSString *secret = @"tok-3f9a7c-SECRET";
  [[MPaaSInterface sharedInstance] setUserId:@"u1"];
  [MPSyncInterface bindUserWithSessionId:secret]; /* before initSync: remembered */
  NSDictionary *e = [MPSyncInterface getComponentEnv];
  CHECK(!env_mentions(e, secret));
  CHECK([e objectForKey:@"sessionId"] == nil);
  CHECK_EQ_STR([e objectForKey:@"sessionIdSet"], @"YES");
  CHECK_EQ_STR([e objectForKey:@"userId"], @"u1");

  [MPSyncInterface initSync];
  CHECK(wait_connected(10));
  e = [MPSyncInterface getComponentEnv];
  CHECK_EQ_STR([e objectForKey:@"instanceId"], @"test_TESTAPP"); /* the full env, after initSync */
  CHECK(!env_mentions(e, secret));
  CHECK([e objectForKey:@"sessionId"] == nil);
  CHECK_EQ_STR([e objectForKey:@"sessionIdSet"], @"YES");

  [MPSyncInterface bindUserWithSessionId:nil]; /* the SESSION_DEMO default: not the app's token */
  e = [MPSyncInterface getComponentEnv];
  CHECK(!env_mentions(e, @"SESSION_DEMO"));
  CHECK_EQ_STR([e objectForKey:@"sessionIdSet"], @"NO");

  [MPSyncInterface unBindUser];
  e = [MPSyncInterface getComponentEnv];
  CHECK([e objectForKey:@"userId"] == nil && [e objectForKey:@"sessionIdSet"] == nil);
}

/* Issue 15: bindUserWithSessionId:@"" is refused as Android's updateUserInfo("") is: the user and
 * session bound before stay bound (nil still means the SESSION_DEMO default). */
static void bind_refuses_empty_session(TestEnv *env) {
  TestObserver *obs = [[TestObserver alloc] init];
  [obs setAutoRespond:YES];
  start_u1_with_uchat(obs);
  [[MPaaSInterface sharedInstance] setUserId:@"u2"];
  [MPSyncInterface bindUserWithSessionId:@""];
  NSDictionary *e = [MPSyncInterface getComponentEnv];
  CHECK_EQ_STR([e objectForKey:@"userId"], @"u1");
  CHECK_EQ_STR([e objectForKey:@"sessionIdSet"], @"YES");
  spin(0.3);
  CHECK([MPSyncInterface connectStatus] == MPSyncNetConnectTypeConnected);
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u1" third:@"still-u1" text:@"x"]);
  CHECK(wait_third(obs, @"still-u1", 10));

  [MPSyncInterface bindUserWithSessionId:nil]; /* the demo session: u2 is bound */
  e = [MPSyncInterface getComponentEnv];
  CHECK_EQ_STR([e objectForKey:@"userId"], @"u2");
  CHECK_EQ_STR([e objectForKey:@"sessionIdSet"], @"NO");
  [MPSyncInterface removeSyncNotificationObserver:obs];
}

/* Issue 15 / C23 on the iOS shim: after the app goes to the background the link stays up for the
 * grace (1.5 s in the tests' meta.config), a push of a bizType the server keeps for nobody arrives
 * in that window, then the link closes and such a push reaches nobody. */
static void background_grace_delivers_live_push(TestEnv *env) {
  TestObserver *obs = [[TestObserver alloc] init];
  [obs setAutoRespond:YES];
  start_u1_observing(obs, @"LIVE");
  CHECK([[[MPSyncInterface getComponentEnv] objectForKey:@"backgroundGraceMs"] intValue] == 1500);
  NSDate *background = [NSDate date];
  post_lifecycle(BACKGROUND);
  spin(0.3);
  CHECK([MPSyncInterface connectStatus] == MPSyncNetConnectTypeConnected);
  CHECK_EQ_STR([env pushBiz:@"LIVE" to:@"u1" third:@"in-grace" text:@"x"], @"SUCCESS");
  CHECK(wait_third(obs, @"in-grace", 1.0));
  CHECK(wait_status(MPSyncNetConnectTypeNotAvailable, 4));
  CHECK(-[background timeIntervalSinceNow] >= 1.4); /* not before the grace ran out */
  spin(0.3);
  CHECK_EQ_STR([env pushBiz:@"LIVE" to:@"u1" third:@"after-grace" text:@"x"], @"NOT_ONLINE");
  post_lifecycle(FOREGROUND);
  CHECK(wait_connected(5));
  spin(0.5);
  CHECK([third_ids([obs oplogs]) isEqual:strings(@"in-grace", nil)]);
  [MPSyncInterface removeSyncNotificationObserver:obs];
}

/* Without mpsyncBackgroundGraceMs an iOS client keeps the link about three minutes (guide §3). */
static void background_grace_defaults_to_three_minutes(TestEnv *env) {
  NSString *path = [[env dir] stringByAppendingPathComponent:@"meta.config"];
  NSString *meta = [NSString stringWithContentsOfFile:path encoding:NSUTF8StringEncoding error:NULL];
  meta = [meta stringByReplacingOccurrencesOfString:@",\"mpsyncBackgroundGraceMs\":1500"
                                         withString:@""];
  CHECK([meta rangeOfString:@"Grace"].location == NSNotFound);
  [meta writeToFile:path atomically:YES encoding:NSUTF8StringEncoding error:NULL];
  [[MPaaSInterface sharedInstance] setUserId:@"u1"];
  [MPSyncInterface initSync];
  CHECK(wait_connected(10));
  CHECK([[[MPSyncInterface getComponentEnv] objectForKey:@"backgroundGraceMs"] intValue] == 180000);
  post_lifecycle(BACKGROUND);
  spin(2.0); /* past the tests' usual grace: still up */
  CHECK([MPSyncInterface connectStatus] == MPSyncNetConnectTypeConnected);
}

/* Issue 13 item 7: one oplog whose text payload is not valid UTF-8, between two valid ones in one
 * message. The whole message reaches the app at its first delivery, the bad bytes replaced by
 * U+FFFD (one per maximal ill-formed subsequence, as Java's decoder on the Android path does). */
static void invalid_utf8_oplog_keeps_its_neighbours(TestEnv *env) {
  TestObserver *obs = [[TestObserver alloc] init];
  [obs setAutoRespond:YES];
  [[MPaaSInterface sharedInstance] setUserId:@"u1"];
  [MPSyncInterface initSync];
  [MPSyncInterface bindUserWithSessionId:@"S1"];
  CHECK(wait_connected(10));
  /* Not registered yet: the three are cached and come as one message at register. */
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u1" third:@"p1" text:@"before"]);
  /* A lone 0xFF, a 3-byte sequence cut after 2 bytes, a surrogate encoded in UTF-8, an overlong. */
  const char bad[] = "{\"bizType\":\"UCHAT\",\"linkToken\":\"u1\",\"thirdMsgId\":\"p2\","
                     "\"payload\":\"a\xff b\xe4\xb8 c\xed\xa0\x80 d\xc0\xaf e\"}";
  CHECK_PUSHED([env pushRawBody:[NSData dataWithBytes:bad length:sizeof bad - 1]]);
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u1" third:@"p3" text:@"after 交易"]);
  spin(1.0);
  CHECK([MPSyncInterface registerSyncBizWithName:@"UCHAT" syncObserver:obs
                                        selector:@selector(onSync:)]);
  CHECK(wait_oplogs(obs, 3, 10));
  NSArray *ops = [obs oplogs];
  CHECK([third_ids(ops) isEqual:strings(@"p1", @"p2", @"p3", nil)]);
  CHECK([[[obs userInfoAt:0] objectForKey:@"delivery"] intValue] == 1);
  CHECK_EQ_STR([[ops objectAtIndex:0] objectForKey:@"pl"], @"before");
  NSString *fffd = @"\ufffd";
  NSString *want = [NSString stringWithFormat:@"a%@ b%@ c%@%@%@ d%@%@ e", fffd, fffd, fffd, fffd,
                                              fffd, fffd, fffd];
  CHECK_EQ_STR([[ops objectAtIndex:1] objectForKey:@"pl"], want);
  CHECK_EQ_STR([[ops objectAtIndex:2] objectForKey:@"pl"], @"after 交易");
  [MPSyncInterface removeSyncNotificationObserver:obs];
}

/* shutdownSync while other threads call in: calls already inside the SDK finish before the client
 * is freed, later ones find none; no crash, nothing left blocked, and the SDK starts again. */
static void calls_racing_shutdown_sync(TestEnv *env) {
  TestObserver *obs = [[TestObserver alloc] init];
  [obs setAutoRespond:YES];
  start_u1_with_uchat(obs);
  /* A long, well-formed id: checking it takes a while after the shim has found the client, which
   * widens the window a shutdown needs to free that client under the call. */
  NSMutableString *longId = [NSMutableString stringWithString:@"1,1,"];
  while ([longId length] < 1000000) [longId appendString:@"7777777777"];
  NSDictionary *stale = [NSDictionary
      dictionaryWithObjectsAndKeys:@"[]", @"op", @"UCHAT", @"biz", longId, @"id", nil];
  srandom(12);
  for (int round = 0; round < 20; round++) {
    [MPSyncInterface initSync];
    Hammer *h[3];
    for (int k = 0; k < 3; k++) {
      h[k] = [[[Hammer alloc] init] autorelease];
      h[k]->kind = k;
      h[k]->stale = stale;
      FLAG_SET(&h[k]->running, 1);
      [NSThread detachNewThreadSelector:@selector(run:) toTarget:h[k] withObject:nil];
    }
    usleep((useconds_t)(random() % 20000));
    [MPSyncInterface shutdownSync];
    usleep(2000); /* calls after the shutdown meet no client */
    for (int k = 0; k < 3; k++) FLAG_SET(&h[k]->stop, 1);
    NSDate *end = [NSDate dateWithTimeIntervalSinceNow:10];
    for (int k = 0; k < 3; k++) {
      while (FLAG_GET(&h[k]->running) && [end timeIntervalSinceNow] > 0) spin(0.01);
      if (FLAG_GET(&h[k]->running))
        test_fail(__FILE__, __LINE__, [NSString stringWithFormat:
            @"round %d: a call of kind %d still blocked 10 s after shutdownSync", round, k]);
    }
  }
  [MPSyncInterface initSync];
  [MPSyncInterface bindUserWithSessionId:@"S1"];
  CHECK(wait_connected(10));
  CHECK_PUSHED([env pushBiz:@"UCHAT" to:@"u1" third:@"after-race" text:@"x"]);
  CHECK(wait_third(obs, @"after-race", 10));
  [MPSyncInterface removeSyncNotificationObserver:obs];
}

/* ------------------------------------------------------------------------------ server trust */

/* A trust verifier standing in for SecTrust (compiled only on Apple platforms): it answers as
 * told and records what it was asked. Runs on the SDK's network thread. */
@interface TestVerifier : NSObject <MPSyncServerTrustVerifier> {
 @public
  BOOL answer;
  NSLock *lock;
  int calls;
  NSString *host;  /* the last host asked about */
  NSArray *chain;  /* the last chain */
}
@end

@implementation TestVerifier
- (id)init {
  if ((self = [super init])) lock = [[NSLock alloc] init];
  return self;
}
- (BOOL)shouldTrustServerChain:(NSArray *)c host:(NSString *)h {
  [lock lock];
  calls++;
  [host release];
  host = [h copy];
  [chain release];
  chain = [c copy];
  [lock unlock];
  return answer;
}
- (int)calls {
  [lock lock];
  int n = calls;
  [lock unlock];
  return n;
}
@end

static NSData *pki_file(const char *name) {
  const char *pki = getenv("MPSYNC_TEST_PKI");
  CHECK(pki != NULL);
  return [NSData dataWithContentsOfFile:[NSString stringWithFormat:@"%s/%s", pki, name]];
}

/* Sets a verifier answering `answer`, registers an observer of UCHAT for user u1, starts. */
static TestVerifier *start_verified(BOOL answer, TestObserver *obs) {
  TestVerifier *v = [[[TestVerifier alloc] init] autorelease];
  v->answer = answer;
  [MPSyncInterface setServerTrustVerifier:v];
  [MPSyncInterface setUserIdProvider:[[[FixedUser alloc] initWithUserId:@"u1"] autorelease]];
  CHECK([MPSyncInterface registerSyncBizWithName:@"UCHAT" syncObserver:obs
                                        selector:@selector(onSync:)]);
  [MPSyncInterface initSync];
  [MPSyncInterface bindUserWithSessionId:@"S1"];
  return v;
}

/* The verifier accepts: the link comes up over TLS and messages arrive; it was asked about the
 * server's own certificate (DER, leaf first) and the host the app configured. Without it the
 * server would be refused: its CA is in no store the core reads (see the refusing case). */
static void trust_verifier_accepts_delivers(TestEnv *env) {
  TestObserver *obs = [[[TestObserver alloc] init] autorelease];
  [obs setAutoRespond:YES];
  TestVerifier *v = start_verified(YES, obs);
  CHECK(wait_connected(10));
  CHECK([env pushBiz:@"UCHAT" to:@"u1" third:@"tls-1" text:@"over TLS"] != nil);
  CHECK(wait_third(obs, @"tls-1", 10));
  CHECK([v calls] >= 1);
  [v->lock lock];
  CHECK_EQ_STR(v->host, @"127.0.0.1");
  CHECK([v->chain count] >= 1);
  CHECK([[v->chain objectAtIndex:0] isEqual:pki_file("server.der")]);
  [v->lock unlock];
  [MPSyncInterface removeSyncNotificationObserver:obs];
}

/* The verifier refuses a server whose chain is otherwise fine: no link, nothing delivered. */
static void trust_verifier_refuses_nothing_delivered(TestEnv *env) {
  TestObserver *obs = [[[TestObserver alloc] init] autorelease];
  TestVerifier *v = start_verified(NO, obs);
  NSDate *end = [NSDate dateWithTimeIntervalSinceNow:10];
  while ([v calls] < 2 && [end timeIntervalSinceNow] > 0) spin(0.02); /* first try and a retry */
  CHECK([v calls] >= 2);
  CHECK([MPSyncInterface connectStatus] != MPSyncNetConnectTypeConnected);
  CHECK_EQ_STR([env pushBiz:@"UCHAT" to:@"u1" third:@"never" text:@"x"], @"NOT_ONLINE");
  spin(0.5);
  CHECK([obs count] == 0);
  CHECK([MPSyncInterface connectStatus] != MPSyncNetConnectTypeConnected);
  /* Without a verifier the core judges alone, against the system store: refused as well. */
  [MPSyncInterface shutdownSync];
  [MPSyncInterface setServerTrustVerifier:nil];
  int before = [v calls];
  [MPSyncInterface initSync];
  spin(1.0);
  CHECK([MPSyncInterface connectStatus] != MPSyncNetConnectTypeConnected);
  CHECK([v calls] == before);
  CHECK([obs count] == 0);
  [MPSyncInterface removeSyncNotificationObserver:obs];
}

/* ------------------------------------------------------------------------------------- runner */

typedef void (*test_fn)(TestEnv *);
static const struct {
  const char *name;
  test_fn fn;
} kTests[] = {
    {"sample_receives_and_acknowledges", sample_receives_and_acknowledges},
    {"text_binary_chinese_on_two_biz_types", text_binary_chinese_on_two_biz_types},
    {"register_before_init_gets_backlog", register_before_init_gets_backlog},
    {"unregister_keeps_backlog_until_register", unregister_keeps_backlog_until_register},
    {"bind_unbind_isolates_users", bind_unbind_isolates_users},
    {"unreported_message_is_redelivered", unreported_message_is_redelivered},
    {"foreign_dictionary_is_ignored", foreign_dictionary_is_ignored},
    {"status_device_id_and_env", status_device_id_and_env},
    {"bind_unbind_while_handler_reports", bind_unbind_while_handler_reports},
    {"component_env_has_no_session_id", component_env_has_no_session_id},
    {"invalid_utf8_oplog_keeps_its_neighbours", invalid_utf8_oplog_keeps_its_neighbours},
    {"calls_racing_shutdown_sync", calls_racing_shutdown_sync},
    {"trust_verifier_accepts_delivers", trust_verifier_accepts_delivers},
    {"trust_verifier_refuses_nothing_delivered", trust_verifier_refuses_nothing_delivered},
    {"bind_refuses_empty_session", bind_refuses_empty_session},
    {"background_grace_delivers_live_push", background_grace_delivers_live_push},
    {"background_grace_defaults_to_three_minutes", background_grace_defaults_to_three_minutes},
};

int main(int argc, char **argv) {
  NSAutoreleasePool *pool = [[NSAutoreleasePool alloc] init];
  if (argc != 4 || strcmp(argv[1], "--server") != 0) {
    fprintf(stderr, "usage: %s --server PATH/mpsync-mock-server CASE\n", argv[0]);
    return 2;
  }
  test_fn fn = NULL;
  for (size_t i = 0; i < sizeof kTests / sizeof kTests[0]; i++)
    if (strcmp(argv[3], kTests[i].name) == 0) fn = kTests[i].fn;
  if (!fn) {
    fprintf(stderr, "unknown case %s\n", argv[3]);
    return 2;
  }
  g_test_name = argv[3];
  [MPaaSInterface sharedInstance]; /* made on the main thread, before the SDK threads exist */
  TestEnv *env = [TestEnv startWithServer:[NSString stringWithUTF8String:argv[2]]];
  [env configureClient];
  fn(env);
  /* Orderly teardown: SDK threads stopped before the server, so nothing reconnects in a loop. */
  [MPSyncInterface shutdownSync];
  [env stopServer];
  printf("PASS %s\n", g_test_name);
  [pool drain];
  return 0;
}
