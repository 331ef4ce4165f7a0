// Vendor callback interface (SPEC §5): an app implements it to receive the messages of one bizType.
// SPDX-License-Identifier: Apache-2.0
package com.alipay.mobile.rome.longlinkservice;

import com.alipay.mobile.rome.longlinkservice.syncmodel.SyncMessage;

/**
 * Receives the messages of a bizType registered with {@code MPSync.registerBiz}.
 *
 * <p>Called on an SDK delivery thread ("mpsync-delivery-N"), never the caller's: the messages of
 * one bizType one at a time and in order; different bizTypes may run side by side on different
 * delivery threads, so a slow callback delays only its own bizType. Call {@code MPSync.reportMsgReceived(msg)} once the data is safe; a message that is not reported
 * (including one whose callback throws) is delivered again later.
 */
public interface ISyncCallback {
    /** One message: {@code msg.msgData} is the JSON array of its oplogs. */
    void onReceiveMessage(SyncMessage msg);
}
