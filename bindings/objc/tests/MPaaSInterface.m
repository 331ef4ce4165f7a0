/* Test stand-in for mPaaS's MPaaSInterface: the class the vendor SDK asks for the logged-in userId. */
/* SPDX-License-Identifier: Apache-2.0 */
#import "MPaaSInterface.h"

@implementation MPaaSInterface

+ (MPaaSInterface *)sharedInstance {
  static MPaaSInterface *shared; /* created on the main thread before any SDK call */
  if (shared == nil) shared = [[MPaaSInterface alloc] init];
  return shared;
}

- (NSString *)userId {
  @synchronized(self) {
    return [[currentUserId retain] autorelease];
  }
}

- (void)setUserId:(NSString *)userId {
  @synchronized(self) {
    NSString *old = currentUserId;
    currentUserId = [userId copy];
    [old release];
  }
}

@end
