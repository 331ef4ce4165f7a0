/* Test harness for the Objective-C shim: mock server process, HTTP pushes, waiting, recording observers. */
/* SPDX-License-Identifier: Apache-2.0 */
#import <Foundation/Foundation.h>
#include <sys/types.h>

/* The mock server and a client environment in one temporary directory; removed at exit. */
@interface TestEnv : NSObject {
  NSString *dir;
  int httpPort, linkPort;
  int tlsPort;             /* the TLS link listener, when MPSYNC_TEST_PKI names a PKI; else 0 */
  pid_t serverPid;
}
- (NSString *)dir;        /* the temporary directory */
- (int)linkPort;
/* With MPSYNC_TEST_PKI set (tests/tls/make_certs.sh's directory) the server also listens for
 * TLS with its server.pem, and configureClient points the client there, by address, with no CA
 * file: only a trust verifier can vouch for that server. */
+ (TestEnv *)startWithServer:(NSString *)serverPath;
/* Writes meta.config for the running server and points MPSyncInterface at it and at a data dir. */
- (void)configureClient;
/* POST /webapi/sync/single; returns the answer's "msg" (nil on transport failure). */
- (NSString *)pushBiz:(NSString *)biz to:(NSString *)token third:(NSString *)third
                 text:(NSString *)text;
- (NSString *)pushBiz:(NSString *)biz to:(NSString *)token third:(NSString *)third
               binary:(NSData *)data;
/* POST /webapi/sync/single with this exact body: for bytes an NSString cannot hold (invalid UTF-8). */
- (NSString *)pushRawBody:(NSData *)body;
/* SIGTERM, wait; also run at exit if a test failed first. */
- (void)stopServer;
@end

/* Records every notification it observes (on whatever thread posts it). */
@interface TestObserver : NSObject {
  NSLock *lock;
  NSMutableArray *notes;   /* userInfo dictionaries, in arrival order */
  NSMutableArray *names;   /* notification names */
  NSMutableArray *onMain;  /* NSNumber: was it posted on the main thread */
  BOOL autoRespond;
}
/* Respond from the handler itself (on the delivery thread). */
- (void)setAutoRespond:(BOOL)yes;
- (void)onSync:(NSNotification *)note;
- (NSUInteger)count;
- (NSDictionary *)userInfoAt:(NSUInteger)i;
- (NSString *)nameAt:(NSUInteger)i;
- (BOOL)onMainAt:(NSUInteger)i;
/* The oplog objects of every recorded message, flattened, in order. */
- (NSArray *)oplogs;
@end

extern const char *g_test_name;
void test_fail(const char *file, int line, NSString *what);
#define CHECK(cond) \
  do { if (!(cond)) test_fail(__FILE__, __LINE__, @ #cond); } while (0)
#define CHECK_EQ_STR(a, b)                                                                  \
  do {                                                                                      \
    NSString *a_ = (a), *b_ = (b);                                                          \
    if (!(a_ == b_ || [a_ isEqual:b_]))                                                     \
      test_fail(__FILE__, __LINE__, [NSString stringWithFormat:@"%s == %s: '%@' vs '%@'",   \
                                                                #a, #b, a_, b_]);           \
  } while (0)

/* Runs the main run loop for this long (performSelectorOnMainThread needs it running). */
void spin(double seconds);
/* Waits until the observer has at least n notifications. */
BOOL wait_count(TestObserver *obs, NSUInteger n, double seconds);
/* Waits until +connectStatus is Connected. */
BOOL wait_connected(double seconds);
/* The JSON array of userInfo[@"op"], parsed. */
NSArray *parse_op(NSDictionary *userInfo);
