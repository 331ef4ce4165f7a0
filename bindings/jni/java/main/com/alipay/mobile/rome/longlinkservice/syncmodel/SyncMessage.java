// Vendor message object (SPEC §5) handed to ISyncCallback; public fields, as apps read them directly.
// SPDX-License-Identifier: Apache-2.0
package com.alipay.mobile.rome.longlinkservice.syncmodel;

/**
 * One delivered message: one or more oplogs of one bizType.
 *
 * <p>The fields are public and mutable because that is the vendor's shape; the SDK fills them
 * (from native code, so they must not be renamed or obfuscated) and reads back only {@code biz} and
 * {@code id} in {@code MPSync.reportMsgReceived}.
 */
public class SyncMessage {
    /** The user the oplogs belong to; "" for device-dimension and global data. */
    public String userId;
    /** The bizType. */
    public String biz;
    /**
     * JSON array, one object per oplog: "mk" oplog id, "st" 0, "bId" thirdMsgId, "ext" "", "mct"
     * create time (ms), "pl" payload (text, or base64 with "isB":"1" for binary payloads).
     */
    public String msgData;
    /** Always null: libmpsync has no separate push channel that would fill it. */
    public String pushData;
    /** Opaque id that reportMsgReceived passes back to the SDK. */
    public String id;
    /** True when more oplogs of this bizType are waiting behind this message. */
    public boolean hasMore;

    public SyncMessage() {
    }

    @Override
    public String toString() {
        return "SyncMessage{userId=" + userId + ", biz=" + biz + ", id=" + id + ", hasMore=" + hasMore
                + ", msgData=" + msgData + ", pushData=" + pushData + "}";
    }
}
