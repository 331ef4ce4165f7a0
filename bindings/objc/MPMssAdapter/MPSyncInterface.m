/* MPSyncInterface over libmpsync's public C API: the iOS shim, also built with GNUstep for the tests. */
/* SPDX-License-Identifier: Apache-2.0 */
#import <MPMssAdapter/MPSyncInterface.h>
#import <MPMssAdapter/MPSyncInterface+MPSyncExtras.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <mpsync/mpsync.h>

#if TARGET_OS_IPHONE
#import <UIKit/UIKit.h>
#endif
#if defined(__APPLE__)
#include <Security/Security.h>
#endif

/*
 * Memory management. gcc's Objective-C (GNUstep builds) has no ARC and no @autoreleasepool; an
 * Apple build may compile this file with or without ARC. These macros keep one source for all three.
 */
#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if __has_feature(objc_arc)
#define MPS_RETAIN(x) (x)
#define MPS_RELEASE(x) ((void)0)
#define MPS_AUTORELEASE(x) (x)
#define MPS_BRIDGE __bridge
#else
#define MPS_BRIDGE
#define MPS_RETAIN(x) [(x) retain]
#define MPS_RELEASE(x) [(x) release]
#define MPS_AUTORELEASE(x) [(x) autorelease]
#endif
#if defined(__clang__)
#define MPS_POOL_BEGIN @autoreleasepool {
#define MPS_POOL_END }
#else
#define MPS_POOL_BEGIN { NSAutoreleasePool *mps_pool_ = [[NSAutoreleasePool alloc] init];
#define MPS_POOL_END [mps_pool_ drain]; }
#endif
/* Replaces a retained global: retain the new value first, so assigning a value to itself is safe. */
#define MPS_SET(var, value)      \
  do {                           \
    id mps_new_ = (value);       \
    id mps_old_ = (var);         \
    (var) = MPS_RETAIN(mps_new_); \
    MPS_RELEASE(mps_old_);       \
  } while (0)

/* Keys of the notification's userInfo. "op" is the vendor's; the rest are the SDK's bookkeeping,
 * named after the Android SyncMessage fields (biz, userId, id, hasMore). */
static NSString *const kKeyOp = @"op";
static NSString *const kKeyBiz = @"biz";
static NSString *const kKeyUserId = @"userId";
static NSString *const kKeyMsgId = @"id";
static NSString *const kKeyHasMore = @"hasMore";
static NSString *const kKeyDelivery = @"delivery";

/* UIKit's lifecycle notifications, by name: UIKit is not linked on GNUstep, and observing the names
 * lets the tests drive the very same path by posting them. */
#if TARGET_OS_IPHONE
#define MPS_FOREGROUND_NOTIFICATION UIApplicationWillEnterForegroundNotification
#define MPS_BACKGROUND_NOTIFICATION UIApplicationDidEnterBackgroundNotification
#else
#define MPS_FOREGROUND_NOTIFICATION @"UIApplicationWillEnterForegroundNotification"
#define MPS_BACKGROUND_NOTIFICATION @"UIApplicationDidEnterBackgroundNotification"
#endif

/* mPaaS's MPaaSInterface is a singleton; declared here only so the selector is known to the compiler. */
@protocol MPSyncSharedInstance
+ (id)sharedInstance;
@end

/*
 * Shim state, guarded by gLock. No core call that can wait is made with gLock held: bind/clear user
 * wait for the old user's running handlers, unregister for a running handler of its bizType, report
 * for the cache commit, client_free joins the SDK threads; a handler may call back into this class
 * (the guide's sample calls responseMessageNotify: from it), which takes gLock. Such calls copy what
 * they need under gLock, pin the client with client_acquire() and call with gLock released;
 * shutdownSync waits for pinned calls to return before freeing the client. Only calls that cannot
 * wait are made under gLock (register, state, device id), where they keep gBizs and the core in step.
 */
static pthread_mutex_t gLock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gIdle = PTHREAD_COND_INITIALIZER; /* gCalls dropped to 0 */
static mpsync_client *gClient;   /* NULL before initSync and after shutdownSync */
static unsigned gCalls;          /* core calls in progress outside gLock (client_acquire) */
static BOOL gStarting;           /* an initSync is creating the client, outside gLock */
static NSString *gMetaPath;      /* explicit meta.config path, or nil = main bundle */
static NSString *gDataDir;       /* explicit data dir, or nil = Application Support/mpsync */
static id gProvider;             /* explicit userId provider, or nil = MPaaSInterface */
static id gVerifier;             /* explicit server-trust verifier, or nil = the default */
static id gClientVerifier;       /* the verifier gClient calls: kept until the client is freed */
static NSMutableSet *gBizs;      /* bizTypes the app registered: dispatched by the core */
static NSString *gUserId;        /* the bound user (applied at initSync when bound before it) */
static NSString *gSessionId;     /* a secret: never logged, never in getComponentEnv */
static BOOL gSessionGiven;       /* the app passed a sessionId (else SESSION_DEMO) */
static unsigned long gUserSeq;   /* bumped at each change of gUserId/gSessionId */
static NSDictionary *gEnv;       /* the effective config, built at initSync */
static BOOL gObservingLifecycle;

static void shim_log(NSString *format, ...) {
  va_list ap;
  va_start(ap, format);
  NSString *text = MPS_AUTORELEASE([[NSString alloc] initWithFormat:format arguments:ap]);
  va_end(ap);
  NSLog(@"MPSync: %@", text);
}

/* The core's log hook runs on any SDK thread, including the network thread, which is not registered
 * with GNUstep: plain stdio only, no Objective-C objects. */
static void core_log(void *user_data, mpsync_log_level level, const char *msg) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  (void)user_data;
  fprintf(stderr, "MPSync [%s] %s\n", names[level <= MPSYNC_LOG_DEBUG ? level : MPSYNC_LOG_DEBUG],
          msg);
}

static NSString *string_or_empty(const char *s) {
  NSString *str = s ? [NSString stringWithUTF8String:s] : nil;
  return str ? str : @"";
}

/* Length of the UTF-8 sequence at s (n > 0 bytes left), with *whole = 1 when it is complete and
 * valid; otherwise the length of its maximal ill-formed prefix, at least 1, with *whole = 0 (Unicode
 * §3.9, "maximal subpart"). The byte ranges refuse overlongs, surrogates and code points past
 * U+10FFFF. */
static size_t utf8_sequence(const unsigned char *s, size_t n, int *whole) {
  unsigned char b = s[0], lo = 0x80, hi = 0xBF;
  size_t need;
  if (b < 0x80) {
    *whole = 1;
    return 1;
  }
  if (b >= 0xC2 && b <= 0xDF) {
    need = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    need = 3;
    if (b == 0xE0) lo = 0xA0;      /* overlong */
    else if (b == 0xED) hi = 0x9F; /* surrogates */
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 4;
    if (b == 0xF0) lo = 0x90;      /* overlong */
    else if (b == 0xF4) hi = 0x8F; /* past U+10FFFF */
  } else {
    *whole = 0;
    return 1;
  }
  size_t i = 1;
  for (; i < need && i < n; i++) {
    unsigned char c = s[i];
    if (i == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) break;
  }
  *whole = i == need;
  return i;
}

/*
 * The "op" string of a message. The core copies text payloads byte for byte, and a payload may not
 * be valid UTF-8; NSString refuses such bytes, and refusing the message would take its valid oplogs
 * with it (redelivered, refused again, then dropped). Each ill-formed subsequence becomes U+FFFD
 * instead, as on the Android path (Java's String(bytes, UTF_8), which may count a few sequences, such
 * as an encoded surrogate, as one): the JSON stays well formed, since the replaced bytes are all
 * >= 0x80 and never JSON syntax. nil only when out of memory.
 */
static NSString *op_string(const char *json) {
  size_t n = strlen(json);
  NSString *op = MPS_AUTORELEASE([[NSString alloc] initWithBytes:json
                                                          length:n
                                                        encoding:NSUTF8StringEncoding]);
  if (op) return op;
  /* At most 3 output bytes (U+FFFD) per input byte. */
  NSMutableData *fixed = [NSMutableData dataWithCapacity:n + n / 2 + 16];
  const unsigned char *p = (const unsigned char *)json, *end = p + n;
  static const unsigned char replacement[] = {0xEF, 0xBF, 0xBD};
  while (p < end) {
    int whole;
    size_t len = utf8_sequence(p, (size_t)(end - p), &whole);
    if (whole)
      [fixed appendBytes:p length:len];
    else
      [fixed appendBytes:replacement length:sizeof replacement];
    p += len;
  }
  return MPS_AUTORELEASE([[NSString alloc] initWithData:fixed encoding:NSUTF8StringEncoding]);
}

/*
 * Message callback for every registered bizType, on the core's delivery thread: turn the message into
 * the vendor's notification. Nothing may unwind through the C core: an exception from an observer is
 * caught here (Apple's notification center passes it on; GNUstep's logs "Problem posting" and
 * swallows it itself), and the message, unreported, comes back after the back-off.
 */
static void on_message(mpsync_client *client, const mpsync_message *msg, void *user_data) {
  (void)client;
  (void)user_data;
#ifdef GNUSTEP
  /* A thread GNUstep did not create must be registered before it touches Objective-C objects;
   * a no-op after the first message. */
  GSRegisterCurrentThread();
#endif
  MPS_POOL_BEGIN
  char *json = NULL;
  int rc = mpsync_message_to_json(msg, &json);
  NSString *op = nil;
  if (rc == 0) {
    op = op_string(json);
    mpsync_free(json);
  }
  NSString *biz = string_or_empty(msg->biz);
  if (op == nil) {
    shim_log(@"message %s of %@ not posted: %s", msg->id, biz,
             rc ? mpsync_strerror(rc) : "out of memory");
  } else {
    NSDictionary *info = [NSDictionary dictionaryWithObjectsAndKeys:
        op, kKeyOp,
        biz, kKeyBiz,
        string_or_empty(msg->user_id), kKeyUserId,
        string_or_empty(msg->id), kKeyMsgId,
        [NSNumber numberWithBool:msg->has_more ? YES : NO], kKeyHasMore,
        [NSNumber numberWithUnsignedInt:msg->delivery], kKeyDelivery,
        nil];
    @try {
      [[NSNotificationCenter defaultCenter] postNotificationName:biz object:nil userInfo:info];
    } @catch (NSException *e) {
      shim_log(@"observer of %@ raised %@: %@", biz, [e name], [e reason]);
    } @catch (id e) {
      shim_log(@"observer of %@ raised a non-NSException object", biz);
    }
  }
  MPS_POOL_END
}

/*
 * The core's certificate-verification hook when the app set a verifier (user_data, kept alive by
 * gClientVerifier): on the network thread, during the handshake. Nothing may unwind through the
 * core: an exception refuses, as does anything that cannot be built.
 */
static mpsync_trust_verdict verifier_verify(void *user_data, const char *host,
                                            const uint8_t *const *certs, const size_t *cert_lens,
                                            size_t count, int chain_verified) {
  (void)chain_verified; /* "hook decides": the verifier judges the chain itself */
#ifdef GNUSTEP
  GSRegisterCurrentThread();
#endif
  BOOL ok = NO;
  MPS_POOL_BEGIN
  id<MPSyncServerTrustVerifier> verifier = (MPS_BRIDGE id)user_data;
  NSMutableArray *chain = [NSMutableArray arrayWithCapacity:count];
  for (size_t i = 0; i < count; i++)
    [chain addObject:[NSData dataWithBytes:certs[i] length:cert_lens[i]]];
  @try {
    ok = [verifier shouldTrustServerChain:chain host:string_or_empty(host)];
  } @catch (NSException *e) {
    shim_log(@"server trust verifier raised %@: %@; server refused", [e name], [e reason]);
  } @catch (id e) {
    shim_log(@"server trust verifier raised a non-NSException object; server refused");
  }
  MPS_POOL_END
  return ok ? MPSYNC_TRUST_ACCEPT : MPSYNC_TRUST_REFUSE;
}

#if defined(__APPLE__)
/*
 * The default on Apple platforms without mpsyncCaFile: the system's verdict, as URLSession's. The
 * SSL policy checks the host name too. SecTrustEvaluateWithError may fetch a missing intermediate;
 * it runs on the network thread, never the main one, as Apple asks. Compiled only there: the
 * GNUstep tests exercise the same hook path through verifier_verify.
 */
static mpsync_trust_verdict sectrust_verify(void *user_data, const char *host,
                                            const uint8_t *const *certs, const size_t *cert_lens,
                                            size_t count, int chain_verified) {
  (void)user_data;
  (void)chain_verified;
  bool ok = false;
  CFMutableArrayRef chain = CFArrayCreateMutable(NULL, (CFIndex)count, &kCFTypeArrayCallBacks);
  for (size_t i = 0; chain && i < count; i++) {
    CFDataRef der = CFDataCreate(NULL, certs[i], (CFIndex)cert_lens[i]);
    SecCertificateRef cert = der ? SecCertificateCreateWithData(NULL, der) : NULL;
    if (der) CFRelease(der);
    if (!cert) {
      CFRelease(chain);
      chain = NULL;
      break;
    }
    CFArrayAppendValue(chain, cert);
    CFRelease(cert);
  }
  CFStringRef name = CFStringCreateWithCString(NULL, host, kCFStringEncodingUTF8);
  SecPolicyRef policy = name ? SecPolicyCreateSSL(true, name) : NULL;
  SecTrustRef trust = NULL;
  if (chain && policy && SecTrustCreateWithCertificates(chain, policy, &trust) == errSecSuccess &&
      SecTrustSetPolicies(trust, policy) == errSecSuccess) {
    CFErrorRef error = NULL;
    ok = SecTrustEvaluateWithError(trust, &error);
    if (error) {
      CFStringRef why = CFErrorCopyDescription(error);
      char text[256] = "";
      if (why) {
        CFStringGetCString(why, text, sizeof text, kCFStringEncodingUTF8);
        CFRelease(why);
      }
      fprintf(stderr, "MPSync [warn] server not trusted by SecTrust: %s\n", text);
      CFRelease(error);
    }
  }
  if (trust) CFRelease(trust);
  if (policy) CFRelease(policy);
  if (name) CFRelease(name);
  if (chain) CFRelease(chain);
  return ok ? MPSYNC_TRUST_ACCEPT : MPSYNC_TRUST_REFUSE;
}
#endif

static BOOL valid_string(id s) { return [s isKindOfClass:[NSString class]] && [s length] > 0; }

/* The userId of the provider set in code, else of the app's MPaaSInterface class (as the vendor SDK
 * does), else nil. Runs app code: never called with gLock held. */
static NSString *provider_user_id(void) {
  pthread_mutex_lock(&gLock);
  id provider = MPS_AUTORELEASE(MPS_RETAIN(gProvider));
  pthread_mutex_unlock(&gLock);
  if (provider == nil) {
    Class cls = NSClassFromString(@"MPaaSInterface");
    if (cls != Nil && [cls respondsToSelector:@selector(sharedInstance)])
      provider = [(Class<MPSyncSharedInstance>)cls sharedInstance];
  }
  if (provider == nil || ![provider respondsToSelector:@selector(userId)]) return nil;
  id user = [(id<MPSyncUserIdProvider>)provider userId];
  return valid_string(user) ? user : nil;
}

static NSString *default_meta_path(void) {
  return [[NSBundle mainBundle] pathForResource:@"meta" ofType:@"config"];
}

static NSString *default_data_dir(void) {
  NSArray *dirs =
      NSSearchPathForDirectoriesInDomains(NSApplicationSupportDirectory, NSUserDomainMask, YES);
  NSString *base = [dirs count] ? [dirs objectAtIndex:0] : NSTemporaryDirectory();
  return [base stringByAppendingPathComponent:@"mpsync"];
}

/* The app's version for the server's version filters: CFBundleShortVersionString when it is dotted
 * numeric, as the core requires; otherwise the core's default. */
static NSString *bundle_app_version(void) {
  id v = [[[NSBundle mainBundle] infoDictionary] objectForKey:@"CFBundleShortVersionString"];
  if (!valid_string(v)) return nil;
  NSCharacterSet *bad =
      [[NSCharacterSet characterSetWithCharactersInString:@"0123456789."] invertedSet];
  return [v rangeOfCharacterFromSet:bad].location == NSNotFound ? v : nil;
}

static void put(NSMutableDictionary *d, NSString *key, id value) {
  if (value) [d setObject:value forKey:key];
}

static MPSyncNetConnectType map_state(mpsync_state s) {
  switch (s) {
    case MPSYNC_STATE_CONNECTING: return MPSyncNetConnectTypeConnecting;
    case MPSYNC_STATE_CONNECTED: return MPSyncNetConnectTypeConnected;
    case MPSYNC_STATE_CONNECT_FAILED: return MPSyncNetConnectTypeConnectFailed;
    case MPSYNC_STATE_DISCONNECTED: break;
  }
  return MPSyncNetConnectTypeNotAvailable;
}

/* Loads meta.config, creates the client and builds the effective config for getComponentEnv.
 * NULL (logged) when sync cannot start. Touches no shim state: initSync runs it outside gLock. */
static mpsync_client *start_client(NSString *metaPath, NSString *dataDir, id verifier,
                                   NSDictionary **envOut) {
  mpsync_meta *meta = NULL;
  int rc = mpsync_meta_load([metaPath fileSystemRepresentation], &meta);
  if (rc) {
    shim_log(@"initSync: %@: %s; sync stays off", metaPath, mpsync_strerror(rc));
    return NULL;
  }
  /* The core creates only the last path component; Application Support may not exist yet. */
  NSDictionary *attrs = [NSDictionary dictionaryWithObject:[NSNumber numberWithShort:0700]
                                                    forKey:NSFilePosixPermissions];
  [[NSFileManager defaultManager] createDirectoryAtPath:dataDir
                            withIntermediateDirectories:YES
                                             attributes:attrs
                                                  error:NULL];
  NSString *appVersion = bundle_app_version();
  mpsync_config cfg;
  mpsync_config_init(&cfg, sizeof cfg);
  mpsync_meta_apply(meta, &cfg);
  cfg.data_dir = [dataDir fileSystemRepresentation];
  cfg.os_type = MPSYNC_OS_IOS;
  /* C23: an iOS app stays online about three minutes after it leaves the screen (guide §3);
   * meta.config's mpsyncBackgroundGraceMs changes it (0 = close at once, as on Android). */
  cfg.background_grace_ms = 180000;
  const char *grace = mpsync_meta_get(meta, "mpsyncBackgroundGraceMs");
  if (grace) cfg.background_grace_ms = (unsigned)strtoul(grace, NULL, 10);
  if (appVersion) cfg.app_version = [appVersion UTF8String];
  cfg.log_fn = core_log;
  cfg.log_level = MPSYNC_LOG_WARN;
  if (verifier != nil) {
    cfg.verify_fn = verifier_verify;
    cfg.user_data = (MPS_BRIDGE void *)verifier;
    cfg.trust_mode = MPSYNC_TRUST_HOOK_DECIDES;
  }
#if defined(__APPLE__)
  else if (!cfg.ca_file) {
    cfg.verify_fn = sectrust_verify;
    cfg.trust_mode = MPSYNC_TRUST_HOOK_DECIDES;
  }
#endif
  mpsync_client *client = NULL;
  rc = mpsync_client_new(&cfg, &client);
  if (rc) {
    mpsync_meta_free(meta);
    shim_log(@"initSync: cannot start the sync client: %s", mpsync_strerror(rc));
    return NULL;
  }

  /* The effective config: the meta.config keys the SDK reads, then what it made of them. */
  NSMutableDictionary *env = [NSMutableDictionary dictionary];
  static const char *const metaKeys[] = {"appId", "appKey", "workspaceId", "syncserver",
                                         "syncport", "mpsyncPlaintext", "mpsyncCaFile",
                                         "mpsyncPin"};
  for (size_t i = 0; i < sizeof metaKeys / sizeof metaKeys[0]; i++) {
    const char *v = mpsync_meta_get(meta, metaKeys[i]);
    if (v) put(env, [NSString stringWithUTF8String:metaKeys[i]], string_or_empty(v));
  }
  char deviceId[64];
  if (mpsync_device_id(client, deviceId, sizeof deviceId) < 0) deviceId[0] = '\0';
  put(env, @"instanceId", string_or_empty(cfg.instance_id));
  put(env, @"host", string_or_empty(cfg.host));
  put(env, @"port", [NSNumber numberWithUnsignedShort:cfg.port]);
  put(env, @"plaintext", [NSNumber numberWithBool:cfg.plaintext ? YES : NO]);
  put(env, @"osType", @"IOS");
  put(env, @"appVersion", appVersion ? appVersion : @"1.0.0");
  put(env, @"backgroundGraceMs", [NSNumber numberWithUnsignedInt:cfg.background_grace_ms]);
  put(env, @"dataDir", dataDir);
  put(env, @"metaConfigPath", metaPath);
  put(env, @"deviceId", string_or_empty(deviceId));
  put(env, @"sdkVersion", string_or_empty(mpsync_version()));
  mpsync_meta_free(meta);
  *envOut = env;
  return client;
}

/* The client, pinned for one core call made with gLock released, or NULL when there is none (before
 * initSync, during and after shutdownSync). Every non-NULL result goes back through client_release. */
static mpsync_client *client_acquire(void) {
  pthread_mutex_lock(&gLock);
  mpsync_client *c = gClient;
  if (c) gCalls++;
  pthread_mutex_unlock(&gLock);
  return c;
}

static void client_release(mpsync_client *c) {
  if (!c) return;
  pthread_mutex_lock(&gLock);
  if (--gCalls == 0) pthread_cond_broadcast(&gIdle);
  pthread_mutex_unlock(&gLock);
}

/*
 * Hands the shim's user (gUserId/gSessionId) to the core, outside gLock: mpsync_bind_user and
 * mpsync_clear_user wait for the old user's running handlers. Two threads switching users at once
 * may reach the core in either order, so whoever finds, after its call, that the user changed
 * meanwhile applies the newest one again; the last call to reach the core is then the newest user.
 */
static void apply_user(const char *what) {
  for (;;) {
    pthread_mutex_lock(&gLock);
    unsigned long seq = gUserSeq;
    NSString *user = MPS_AUTORELEASE(MPS_RETAIN(gUserId));
    NSString *session = MPS_AUTORELEASE(MPS_RETAIN(gSessionId));
    mpsync_client *c = gClient;
    if (c) gCalls++;
    pthread_mutex_unlock(&gLock);
    if (!c) return; /* remembered; initSync applies it */
    int rc = user ? mpsync_bind_user(c, [user UTF8String], [session UTF8String])
                  : mpsync_clear_user(c);
    client_release(c);
    if (rc) shim_log(@"%s: %s", what, mpsync_strerror(rc));
    pthread_mutex_lock(&gLock);
    BOOL current = seq == gUserSeq;
    pthread_mutex_unlock(&gLock);
    if (current) return;
  }
}

@implementation MPSyncInterface

+ (void)initialize {
  if (self == [MPSyncInterface class] && gBizs == nil) gBizs = [[NSMutableSet alloc] init];
}

+ (void)initSync {
  pthread_mutex_lock(&gLock);
  if (gClient || gStarting) {
    pthread_mutex_unlock(&gLock);
    return; /* once per process, as the guide says; a second call changes nothing */
  }
  /* Creating the client opens the cache and starts threads: done with gLock released, so that
   * a handler of a client being shut down is not held up. gStarting keeps a second initSync out. */
  gStarting = YES;
  NSString *metaPath = MPS_AUTORELEASE(MPS_RETAIN(gMetaPath));
  NSString *dataDir = MPS_AUTORELEASE(MPS_RETAIN(gDataDir));
  /* Held by gClientVerifier once the client runs; until then by this retain. */
  id verifier = MPS_RETAIN(gVerifier);
  pthread_mutex_unlock(&gLock);
  if (metaPath == nil) metaPath = default_meta_path();
  if (dataDir == nil) dataDir = default_data_dir();
  mpsync_client *client = NULL;
  NSDictionary *env = nil;
  if (metaPath == nil)
    shim_log(@"initSync: meta.config not found in the main bundle; sync stays off");
  else
    client = start_client(metaPath, dataDir, verifier, &env);

  pthread_mutex_lock(&gLock);
  gStarting = NO;
  if (!client) {
    pthread_mutex_unlock(&gLock);
    MPS_RELEASE(verifier);
    return;
  }
  gClient = client;
  MPS_SET(gClientVerifier, verifier);
  MPS_RELEASE(verifier);
  MPS_SET(gEnv, env);
  /* What the app did before initSync now reaches the core. Registrations under gLock (the call
   * does not wait) so that none made meanwhile is lost; their backlog is dispatched by the core. */
  for (NSString *biz in gBizs) {
    int rc = mpsync_register_biz(client, [biz UTF8String], on_message, NULL);
    if (rc) shim_log(@"initSync: bizType %@ not registered: %s", biz, mpsync_strerror(rc));
  }
  BOOL bound = gUserId != nil;
  BOOL observe = !gObservingLifecycle;
  gObservingLifecycle = YES;
  pthread_mutex_unlock(&gLock);

  if (bound) apply_user("initSync: user not bound");
  if (observe) {
    /* The class object observes: it lives as long as the process. */
    NSNotificationCenter *nc = [NSNotificationCenter defaultCenter];
    [nc addObserver:self
           selector:@selector(mps_foregroundNotification:)
               name:MPS_FOREGROUND_NOTIFICATION
             object:nil];
    [nc addObserver:self
           selector:@selector(mps_backgroundNotification:)
               name:MPS_BACKGROUND_NOTIFICATION
             object:nil];
  }
  /* initSync runs while the app is launching, in the foreground: connect now. */
  [self applicationWillEnterForeground];
}

+ (MPSyncNetConnectType)connectStatus {
  pthread_mutex_lock(&gLock);
  MPSyncNetConnectType t =
      gClient ? map_state(mpsync_get_state(gClient)) : MPSyncNetConnectTypeNotAvailable;
  pthread_mutex_unlock(&gLock);
  return t;
}

+ (BOOL)registerSyncBizWithName:(NSString *)bizName syncObserver:(id)observer selector:(SEL)selector {
  if (!valid_string(bizName) || observer == nil || selector == NULL) return NO;
  /* The core's own check (mpsync_register_biz) also runs before initSync: a name it would refuse
   * later is refused now. */
  if ([bizName length] > 30 || [bizName rangeOfString:@" "].location != NSNotFound) return NO;
  [[NSNotificationCenter defaultCenter] addObserver:observer
                                           selector:selector
                                               name:bizName
                                             object:nil];
  pthread_mutex_lock(&gLock);
  [gBizs addObject:bizName];
  /* Under gLock: it does not wait, and gBizs and the core stay in step with unRegister. */
  int rc = gClient ? mpsync_register_biz(gClient, [bizName UTF8String], on_message, NULL) : 0;
  if (rc) [gBizs removeObject:bizName];
  pthread_mutex_unlock(&gLock);
  if (rc) {
    /* Refused by the core: leave nothing behind, as if the call had not been made. */
    [[NSNotificationCenter defaultCenter] removeObserver:observer name:bizName object:nil];
    shim_log(@"register %@: %s", bizName, mpsync_strerror(rc));
  }
  return rc == 0;
}

+ (BOOL)unRegisterSyncBizWithName:(NSString *)bizName syncObserver:(id)observer {
  if (!valid_string(bizName)) return NO;
  if (observer)
    [[NSNotificationCenter defaultCenter] removeObserver:observer name:bizName object:nil];
  pthread_mutex_lock(&gLock);
  [gBizs removeObject:bizName];
  mpsync_client *client = gClient;
  if (client) gCalls++;
  pthread_mutex_unlock(&gLock);
  /* Outside the lock: it waits for a running handler of this bizType to return. */
  int rc = client ? mpsync_unregister_biz(client, [bizName UTF8String]) : 0;
  if (rc == MPSYNC_ENOTFOUND) rc = 0; /* not dispatched already: the wanted outcome */
  if (client) {
    /* A register of the same name on another thread may have landed in between: it wins. */
    pthread_mutex_lock(&gLock);
    if ([gBizs containsObject:bizName])
      mpsync_register_biz(client, [bizName UTF8String], on_message, NULL);
    pthread_mutex_unlock(&gLock);
    client_release(client);
  }
  if (rc) shim_log(@"unregister %@: %s", bizName, mpsync_strerror(rc));
  return rc == 0;
}

+ (void)removeSyncNotificationObserver:(id)observer {
  if (observer) [[NSNotificationCenter defaultCenter] removeObserver:observer];
}

+ (void)responseMessageNotify:(NSDictionary *)userInfo {
  if (![userInfo isKindOfClass:[NSDictionary class]]) {
    shim_log(@"responseMessageNotify: not a dictionary; ignored");
    return;
  }
  id op = [userInfo objectForKey:kKeyOp];
  id biz = [userInfo objectForKey:kKeyBiz];
  id msgId = [userInfo objectForKey:kKeyMsgId];
  if (![op isKindOfClass:[NSString class]] || !valid_string(biz) || !valid_string(msgId)) {
    shim_log(@"responseMessageNotify: not the userInfo of a sync message; ignored");
    return;
  }
  /* The core reports only the message in flight for biz with exactly this id; a stale or forged id
   * is refused there and changes nothing. Outside gLock: it waits for the cache commit, and reports
   * of different bizTypes need not queue behind each other. */
  mpsync_client *client = client_acquire();
  int rc = client ? mpsync_report(client, [biz UTF8String], [msgId UTF8String]) : MPSYNC_ESHUTDOWN;
  client_release(client);
  if (rc) shim_log(@"responseMessageNotify: %@ %@ not reported: %s", biz, msgId, mpsync_strerror(rc));
}

+ (void)bindUserWithSessionId:(NSString *)sessionId {
  /* nil asks for the demo session (guide §7.2); an empty token is a login gone wrong, refused as
   * Android's updateUserInfo refuses it (guide §7.1), leaving the binding as it was. */
  if (sessionId != nil && !valid_string(sessionId)) {
    shim_log(@"bindUserWithSessionId: empty sessionId (nil means SESSION_DEMO); not bound");
    return;
  }
  NSString *user = provider_user_id();
  if (user == nil) {
    shim_log(@"bindUserWithSessionId: the userId provider has no userId; not bound");
    return;
  }
  NSString *session = sessionId != nil ? sessionId : @"SESSION_DEMO";
  pthread_mutex_lock(&gLock);
  MPS_SET(gUserId, MPS_AUTORELEASE([user copy]));
  MPS_SET(gSessionId, MPS_AUTORELEASE([session copy]));
  gSessionGiven = sessionId != nil;
  gUserSeq++;
  pthread_mutex_unlock(&gLock);
  apply_user("bindUserWithSessionId");
}

+ (void)unBindUser {
  pthread_mutex_lock(&gLock);
  MPS_SET(gUserId, nil);
  MPS_SET(gSessionId, nil);
  gSessionGiven = NO;
  gUserSeq++;
  pthread_mutex_unlock(&gLock);
  apply_user("unBindUser");
}

+ (void)unbindUser {
  [self unBindUser];
}

+ (NSString *)getSyncDeviceId {
  char buf[64];
  pthread_mutex_lock(&gLock);
  int n = gClient ? mpsync_device_id(gClient, buf, sizeof buf) : -1;
  pthread_mutex_unlock(&gLock);
  return n > 0 ? [NSString stringWithUTF8String:buf] : nil;
}

+ (NSDictionary *)getComponentEnv {
  pthread_mutex_lock(&gLock);
  NSMutableDictionary *env = [NSMutableDictionary dictionaryWithDictionary:gEnv];
  /* Asked now, not taken from initSync: a second install with the same id takes a new one. */
  char deviceId[64];
  if (gClient && mpsync_device_id(gClient, deviceId, sizeof deviceId) > 0)
    put(env, @"deviceId", string_or_empty(deviceId));
  put(env, @"userId", gUserId);
  /* Diagnostics get logged and sent around: whether the app gave a session token, never the token. */
  if (gUserId) put(env, @"sessionIdSet", gSessionGiven ? @"YES" : @"NO");
  pthread_mutex_unlock(&gLock);
  return env;
}

/* ---- MPSyncInterface+MPSyncExtras.h ---- */

+ (void)setMetaConfigPath:(NSString *)path {
  pthread_mutex_lock(&gLock);
  MPS_SET(gMetaPath, MPS_AUTORELEASE([path copy]));
  pthread_mutex_unlock(&gLock);
}

+ (void)setDataDirectory:(NSString *)path {
  pthread_mutex_lock(&gLock);
  MPS_SET(gDataDir, MPS_AUTORELEASE([path copy]));
  pthread_mutex_unlock(&gLock);
}

+ (void)setUserIdProvider:(id<MPSyncUserIdProvider>)provider {
  pthread_mutex_lock(&gLock);
  MPS_SET(gProvider, provider);
  pthread_mutex_unlock(&gLock);
}

+ (void)applicationWillEnterForeground {
  mpsync_client *client = client_acquire();
  int rc = client ? mpsync_foreground(client) : 0;
  client_release(client);
  if (rc) shim_log(@"foreground: %s", mpsync_strerror(rc));
}

+ (void)applicationDidEnterBackground {
  mpsync_client *client = client_acquire();
  int rc = client ? mpsync_background(client) : 0;
  client_release(client);
  if (rc) shim_log(@"background: %s", mpsync_strerror(rc));
}

+ (void)shutdownSync {
  pthread_mutex_lock(&gLock);
  mpsync_client *client = gClient;
  gClient = NULL; /* from now on every call finds no client */
  MPS_SET(gEnv, nil);
  /* Calls already under way finish first: they hold the pointer. None waits for this thread, since
   * a handler calling in finds no client and returns (shutdownSync is not for handlers). */
  while (gCalls > 0) pthread_cond_wait(&gIdle, &gLock);
  pthread_mutex_unlock(&gLock);
  /* Outside the lock: it joins the delivery thread, whose handlers may call into this class. */
  mpsync_client_free(client);
  /* Only now: the network thread may have been in the verifier until the client was freed. */
  pthread_mutex_lock(&gLock);
  if (!gClient) MPS_SET(gClientVerifier, nil);
  pthread_mutex_unlock(&gLock);
}

+ (void)setServerTrustVerifier:(id<MPSyncServerTrustVerifier>)verifier {
  pthread_mutex_lock(&gLock);
  MPS_SET(gVerifier, verifier);
  pthread_mutex_unlock(&gLock);
}

+ (void)mps_foregroundNotification:(NSNotification *)note {
  (void)note;
  [self applicationWillEnterForeground];
}

+ (void)mps_backgroundNotification:(NSNotification *)note {
  (void)note;
  [self applicationDidEnterBackground];
}

@end
