/* The guide's MySyncService sample (§4.2.2), adapted only where gcc/GNUstep lack something; used as a test. */
/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Adaptations, each marked "ADAPTED" below:
 *  - dispatch_once + block      → pthread_once with a C function (gcc has no blocks; no libdispatch)
 *  - dispatch_async(main queue) → performSelectorOnMainThread:withObject:waitUntilDone:NO
 *  - userInfo[@"op"], item[@"pl"] → objectForKey: (gcc has no object subscripting)
 *  - enumerateObjectsUsingBlock: → a for loop (no blocks)
 *  - kNilOptions                → 0 (not defined by GNUstep)
 *  - instancetype               → id (older gcc spelling)
 *  - error:nil                  → error:NULL (GNUstep's nil is an (id), not a null NSError **)
 *  - dealloc calls [super dealloc] (manual reference counting: gcc has no ARC)
 * Added for the test (marked "TEST"): the decoded payloads are recorded so the test can check them.
 */
#import "MySyncService.h"
#include <pthread.h>

#import <MPMssAdapter/MPSyncInterface.h>
#define SYNC_BIZ_NAME @"SYNC-TRADE-DATA"

/* TEST: what handleSyncData: saw, in order; and how many messages were responded to. */
static NSMutableArray *gReceived;
static NSUInteger gResponded;

/* ADAPTED: the once-token and the instance live at file scope for pthread_once. */
static MySyncService *bizService;
static pthread_once_t llOnceToken = PTHREAD_ONCE_INIT;
static void make_shared_instance(void) {
    bizService = [[MySyncService alloc] init];
}

@implementation MySyncService
+ (id)sharedInstance
{
    pthread_once(&llOnceToken, make_shared_instance);
    return bizService;
}

-(id)init
{
    self = [super init];
    if (self) {
        [MPSyncInterface initSync];
        BOOL registerSingleDeviceSync = [MPSyncInterface
registerSyncBizWithName:SYNC_BIZ_NAME syncObserver:self
selector:@selector(revSyncBizNotification:)];
        (void)registerSingleDeviceSync; /* ADAPTED: silences gcc's unused-variable warning */
        [MPSyncInterface bindUserWithSessionId:@"SESSION_DEMO"]; // 此处的 User 对应控制台下发命令时，所需要填写的 userId，需要和 MPaaSInterface 的 userId 函数中配置的值相对应；sessionId 是客户端携带的授权 token，userId 和 sessionId 都是用户登录系统返回的数据，当 userId 和 sessionId 变化时，需要重新调用此函数才能保证长连接的建立正确。
    }
    return self;
}

-(void)revSyncBizNotification:(NSNotification*)notify
{
    NSDictionary *userInfo = notify.userInfo;
    /* ADAPTED: dispatch_async(dispatch_get_main_queue(), ^{ ... }) */
    [self performSelectorOnMainThread:@selector(handleOnMainQueue:) withObject:userInfo
                        waitUntilDone:NO];
}

/* ADAPTED: the body of the block the sample dispatched to the main queue. */
-(void)handleOnMainQueue:(NSDictionary *)userInfo
{
    //业务数据处理
    [MySyncService handleSyncData:userInfo];
    //回调 SyncSDK，表示业务数据已经处理
    [MPSyncInterface responseMessageNotify:userInfo];
    gResponded++; /* TEST */
}

+(void)handleSyncData:(NSDictionary *)userInfo
{
    NSString * stringOp = [userInfo objectForKey:@"op"]; /* ADAPTED: userInfo[@"op"] */
    NSArray *op = [NSJSONSerialization JSONObjectWithData:[stringOp
dataUsingEncoding:NSUTF8StringEncoding] options:NSJSONReadingMutableContainers error:NULL]; /* ADAPTED: error:nil */
    NSLog(@"handleSyncData: %@", userInfo);

    if([op isKindOfClass:[NSArray class]]){
        /* ADAPTED: [op enumerateObjectsUsingBlock:^(NSDictionary * item, NSUInteger idx, BOOL *stop) { */
        for (NSUInteger idx = 0; idx < [op count]; idx++) {
            NSDictionary *item = [op objectAtIndex:idx];
            if([item isKindOfClass:[NSDictionary class]]){
                NSString * plString = [item objectForKey:@"pl"];//业务数据 payload
                if([item objectForKey:@"isB"]){
                    NSData *dataPl = [[NSData alloc]
initWithBase64EncodedString:plString options:0]; /* ADAPTED: kNilOptions */
                    NSString *pl = [[NSString alloc] initWithData:dataPl encoding:NSUTF8StringEncoding];
                    NSLog(@"biz payload data:%@,string:%@",dataPl,pl);
                    if (!gReceived) gReceived = [[NSMutableArray alloc] init]; /* TEST */
                    [gReceived addObject:dataPl];                              /* TEST */
                    [dataPl release]; /* ADAPTED: manual reference counting */
                    [pl release];     /* ADAPTED: manual reference counting */
                }else{
                    NSLog(@"biz payload:%@",plString);
                    if (!gReceived) gReceived = [[NSMutableArray alloc] init]; /* TEST */
                    [gReceived addObject:plString];                            /* TEST */
                }
            }
        }
    }
}

-(void)dealloc
{
    BOOL unregisterSingleDeviceSync = [MPSyncInterface
unRegisterSyncBizWithName:SYNC_BIZ_NAME syncObserver:[MySyncService sharedInstance]];
    (void)unregisterSingleDeviceSync; /* ADAPTED: silences gcc's unused-variable warning */
    [MPSyncInterface removeSyncNotificationObserver:self];
    [super dealloc]; /* ADAPTED: manual reference counting */
}

/* TEST */
+(NSArray *)received
{
    return gReceived ? [NSArray arrayWithArray:gReceived] : [NSArray array];
}

/* TEST */
+(NSUInteger)respondedCount
{
    return gResponded;
}
@end
