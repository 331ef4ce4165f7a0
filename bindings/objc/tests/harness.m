/* Test harness for the Objective-C shim: mock server process, HTTP pushes, waiting, recording observers. */
/* SPDX-License-Identifier: Apache-2.0 */
#import "harness.h"
#import <MPMssAdapter/MPSyncInterface.h>
#import <MPMssAdapter/MPSyncInterface+MPSyncExtras.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

const char *g_test_name = "?";
static TestEnv *g_env; /* stopped and removed at exit, also when a check failed */

void test_fail(const char *file, int line, NSString *what) {
  fprintf(stderr, "FAIL %s: %s:%d: %s\n", g_test_name, file, line, [what UTF8String]);
  exit(1); /* the atexit hook stops the server and removes the directory */
}

static void cleanup_at_exit(void) {
  if (g_env == nil) return;
  NSAutoreleasePool *pool = [[NSAutoreleasePool alloc] init]; /* main's pool is gone by now */
  [g_env stopServer];
  [[NSFileManager defaultManager] removeItemAtPath:[g_env dir] error:NULL];
  [pool drain];
}

static NSString *biz_file_json(void) {
  /* Two user bizTypes (the sample's and a chat), a device one, and a user one the server keeps
   * for nobody: its pushes reach only a device online at that moment. */
  return @"["
      "{\"bizType\":\"LIVE\",\"scope\":\"specified\",\"dimension\":\"user\","
      "\"multiDevice\":true,\"persistent\":false,\"repushMode\":\"queue\"},"
      "{\"bizType\":\"SYNC-TRADE-DATA\",\"scope\":\"specified\",\"dimension\":\"user\","
      "\"multiDevice\":true,\"persistent\":true,\"repushMode\":\"queue\"},"
      "{\"bizType\":\"UCHAT\",\"scope\":\"specified\",\"dimension\":\"user\","
      "\"multiDevice\":true,\"persistent\":true,\"repushMode\":\"queue\"},"
      "{\"bizType\":\"DEVLOCK\",\"scope\":\"specified\",\"dimension\":\"device\","
      "\"multiDevice\":false,\"persistent\":true,\"repushMode\":\"queue\"}]";
}

@implementation TestEnv

- (NSString *)dir { return dir; }
- (int)linkPort { return linkPort; }

+ (TestEnv *)startWithServer:(NSString *)serverPath {
  TestEnv *env = [[TestEnv alloc] init];
  char tmpl[] = "/tmp/mpsync-objc-XXXXXX";
  if (!mkdtemp(tmpl)) test_fail(__FILE__, __LINE__, @"mkdtemp");
  env->dir = [[NSString alloc] initWithUTF8String:tmpl];
  g_env = env;
  atexit(cleanup_at_exit);

  NSString *bizFile = [env->dir stringByAppendingPathComponent:@"biz.json"];
  [biz_file_json() writeToFile:bizFile atomically:YES encoding:NSUTF8StringEncoding error:NULL];
  NSString *state = [env->dir stringByAppendingPathComponent:@"server"];

  int fds[2];
  if (pipe(fds) != 0) test_fail(__FILE__, __LINE__, @"pipe");
  /* fork+exec rather than posix_spawn: the child asks for SIGTERM when this process dies, so a test
   * killed by the CTest timeout leaves no server behind. Only async-signal-safe calls in the child. */
  const char *pki = getenv("MPSYNC_TEST_PKI");
  NSString *cert = pki ? [NSString stringWithFormat:@"%s/server.pem", pki] : nil;
  NSString *key = pki ? [NSString stringWithFormat:@"%s/server.key", pki] : nil;
  const char *argv[] = {[serverPath fileSystemRepresentation], "--http", "127.0.0.1:0", "--link",
                        "127.0.0.1:0", "--data", [state fileSystemRepresentation], "--biz-file",
                        [bizFile fileSystemRepresentation],
                        /* a test may push text that is not UTF-8, as a broken server might (C22) */
                        "--text-utf8", "lenient",
                        pki ? "--link-tls" : NULL, "127.0.0.1:0", "--cert",
                        [cert fileSystemRepresentation], "--key", [key fileSystemRepresentation],
                        NULL};
  pid_t pid = fork();
  if (pid < 0) test_fail(__FILE__, __LINE__, @"fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(fds[1]);
  env->serverPid = pid;

  /* One line: "mpsync-mock-server ready http=127.0.0.1:PORT link=127.0.0.1:PORT". */
  char line[256];
  size_t len = 0;
  while (len < sizeof line - 1) {
    struct pollfd p = {fds[0], POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) break;
    ssize_t n = read(fds[0], line + len, 1);
    if (n <= 0 || line[len] == '\n') break;
    len++;
  }
  line[len] = '\0';
  close(fds[0]); /* the server prints nothing else on stdout */
  const char *h = strstr(line, "http=127.0.0.1:"), *l = strstr(line, "link=127.0.0.1:");
  if (strncmp(line, "mpsync-mock-server ready ", 25) != 0 || !h || !l)
    test_fail(__FILE__, __LINE__, [NSString stringWithFormat:@"server not ready: '%s'", line]);
  env->httpPort = atoi(h + 15);
  env->linkPort = atoi(l + 15);
  const char *t = strstr(line, "link_tls=127.0.0.1:");
  if (pki && !t) test_fail(__FILE__, __LINE__, [NSString stringWithFormat:@"no TLS link: '%s'", line]);
  env->tlsPort = t ? atoi(t + 19) : 0;
  return env;
}

- (void)configureClient {
  /* The local mock server is plain TCP, said explicitly (TLS with MPSYNC_TEST_PKI); the
   * background grace (180 s on a phone) is cut to a second and a half so that a test sees it end. */
  NSString *meta = [NSString stringWithFormat:
      @"{\"appId\":\"TESTAPP\",\"workspaceId\":\"test\",\"appKey\":\"KEY\","
       "\"syncserver\":\"127.0.0.1\",\"syncport\":%d,\"mpsyncPlaintext\":%s,"
       "\"mpsyncBackgroundGraceMs\":1500}", tlsPort ? tlsPort : linkPort,
       tlsPort ? "false" : "true"];
  NSString *path = [dir stringByAppendingPathComponent:@"meta.config"];
  [meta writeToFile:path atomically:YES encoding:NSUTF8StringEncoding error:NULL];
  [MPSyncInterface setMetaConfigPath:path];
  [MPSyncInterface setDataDirectory:[dir stringByAppendingPathComponent:@"client/sync"]];
}

static NSString *http_post(int port, NSString *path, NSData *body) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    if (fd >= 0) close(fd);
    return nil;
  }
  NSString *head = [NSString stringWithFormat:
      @"POST %@ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
       "Content-Length: %lu\r\nConnection: close\r\n\r\n", path, (unsigned long)[body length]];
  NSMutableData *req = [NSMutableData dataWithData:[head dataUsingEncoding:NSUTF8StringEncoding]];
  [req appendData:body];
  const char *p = [req bytes];
  size_t left = [req length];
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n <= 0) break;
    p += n;
    left -= (size_t)n;
  }
  NSMutableData *resp = [NSMutableData data];
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    [resp appendBytes:buf length:(NSUInteger)n];
  }
  close(fd);
  NSString *text = [[[NSString alloc] initWithData:resp encoding:NSUTF8StringEncoding] autorelease];
  NSRange sep = [text rangeOfString:@"\r\n\r\n"];
  if (sep.location == NSNotFound) return nil;
  NSData *json = [[text substringFromIndex:NSMaxRange(sep)] dataUsingEncoding:NSUTF8StringEncoding];
  id answer = [NSJSONSerialization JSONObjectWithData:json options:0 error:NULL];
  return [answer isKindOfClass:[NSDictionary class]] ? [answer objectForKey:@"msg"] : nil;
}

- (NSString *)pushRawBody:(NSData *)body {
  return http_post(httpPort, @"/webapi/sync/single?instanceId=test_TESTAPP", body);
}

- (NSString *)push:(NSDictionary *)body {
  return [self pushRawBody:[NSJSONSerialization dataWithJSONObject:body options:0 error:NULL]];
}

- (NSString *)pushBiz:(NSString *)biz to:(NSString *)token third:(NSString *)third
                 text:(NSString *)text {
  return [self push:[NSDictionary dictionaryWithObjectsAndKeys:biz, @"bizType", token, @"linkToken",
                                                               third, @"thirdMsgId", text,
                                                               @"payload", nil]];
}

- (NSString *)pushBiz:(NSString *)biz to:(NSString *)token third:(NSString *)third
               binary:(NSData *)data {
  return [self push:[NSDictionary dictionaryWithObjectsAndKeys:
                                      biz, @"bizType", token, @"linkToken", third, @"thirdMsgId",
                                      [data base64EncodedStringWithOptions:0], @"binaryPayload",
                                      nil]];
}

- (void)stopServer {
  if (serverPid <= 0) return;
  pid_t pid = serverPid;
  serverPid = 0;
  kill(pid, SIGTERM);
  for (int i = 0; i < 100; i++) {
    if (waitpid(pid, NULL, WNOHANG) == pid) return;
    usleep(50000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

@end

@implementation TestObserver

- (id)init {
  if ((self = [super init])) {
    lock = [[NSLock alloc] init];
    notes = [[NSMutableArray alloc] init];
    names = [[NSMutableArray alloc] init];
    onMain = [[NSMutableArray alloc] init];
  }
  return self;
}

- (void)dealloc {
  [lock release];
  [notes release];
  [names release];
  [onMain release];
  [super dealloc];
}

- (void)setAutoRespond:(BOOL)yes {
  [lock lock];
  autoRespond = yes;
  [lock unlock];
}

- (void)onSync:(NSNotification *)note {
  [lock lock];
  [notes addObject:[note userInfo]];
  [names addObject:[note name]];
  [onMain addObject:[NSNumber numberWithBool:[NSThread isMainThread]]];
  BOOL respond = autoRespond;
  [lock unlock];
  if (respond) [MPSyncInterface responseMessageNotify:[note userInfo]];
}

- (NSUInteger)count {
  [lock lock];
  NSUInteger n = [notes count];
  [lock unlock];
  return n;
}

- (NSDictionary *)userInfoAt:(NSUInteger)i {
  [lock lock];
  NSDictionary *d = [[[notes objectAtIndex:i] retain] autorelease];
  [lock unlock];
  return d;
}

- (NSString *)nameAt:(NSUInteger)i {
  [lock lock];
  NSString *s = [[[names objectAtIndex:i] retain] autorelease];
  [lock unlock];
  return s;
}

- (BOOL)onMainAt:(NSUInteger)i {
  [lock lock];
  BOOL b = [[onMain objectAtIndex:i] boolValue];
  [lock unlock];
  return b;
}

- (NSArray *)oplogs {
  NSMutableArray *all = [NSMutableArray array];
  NSUInteger n = [self count];
  for (NSUInteger i = 0; i < n; i++) [all addObjectsFromArray:parse_op([self userInfoAt:i])];
  return all;
}

@end

NSArray *parse_op(NSDictionary *userInfo) {
  NSString *op = [userInfo objectForKey:@"op"];
  id arr = [NSJSONSerialization JSONObjectWithData:[op dataUsingEncoding:NSUTF8StringEncoding]
                                           options:0
                                             error:NULL];
  return [arr isKindOfClass:[NSArray class]] ? arr : [NSArray array];
}

void spin(double seconds) {
  NSDate *end = [NSDate dateWithTimeIntervalSinceNow:seconds];
  while ([end timeIntervalSinceNow] > 0) {
    /* Returns at once when the run loop has no sources yet: sleep a little instead of spinning. */
    if (![[NSRunLoop currentRunLoop] runMode:NSDefaultRunLoopMode
                                  beforeDate:[NSDate dateWithTimeIntervalSinceNow:0.02]])
      usleep(10000);
  }
}

BOOL wait_count(TestObserver *obs, NSUInteger n, double seconds) {
  NSDate *end = [NSDate dateWithTimeIntervalSinceNow:seconds];
  while ([obs count] < n) {
    if ([end timeIntervalSinceNow] <= 0) return NO;
    spin(0.02);
  }
  return YES;
}

BOOL wait_connected(double seconds) {
  NSDate *end = [NSDate dateWithTimeIntervalSinceNow:seconds];
  while ([MPSyncInterface connectStatus] != MPSyncNetConnectTypeConnected) {
    if ([end timeIntervalSinceNow] <= 0) return NO;
    spin(0.02);
  }
  return YES;
}
