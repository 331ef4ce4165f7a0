/* Test stand-in for mPaaS's MPaaSInterface: the class the vendor SDK asks for the logged-in userId. */
/* SPDX-License-Identifier: Apache-2.0 */
#import <Foundation/Foundation.h>

/* In an mPaaS app this class comes from mPaaS.framework and the app overrides -userId in a
 * category; the shim finds it by name (NSClassFromString), as the vendor SDK does. */
@interface MPaaSInterface : NSObject {
  NSString *currentUserId;
}
+ (MPaaSInterface *)sharedInstance;
- (NSString *)userId;
/* Test-only: what -userId returns from now on. */
- (void)setUserId:(NSString *)userId;
@end
