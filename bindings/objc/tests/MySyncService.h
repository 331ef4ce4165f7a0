/* The guide's MySyncService sample (§4.2.2): a resident service that listens to one sync bizType. */
/* SPDX-License-Identifier: Apache-2.0 */
#import <Foundation/Foundation.h>

@interface MySyncService : NSObject
+ (id)sharedInstance;
+ (void)handleSyncData:(NSDictionary *)userInfo;
/* TEST: the payloads handleSyncData: decoded (NSString for text, NSData for binary), in order. */
+ (NSArray *)received;
/* TEST: how many messages the sample answered with responseMessageNotify:. */
+ (NSUInteger)respondedCount;
@end
