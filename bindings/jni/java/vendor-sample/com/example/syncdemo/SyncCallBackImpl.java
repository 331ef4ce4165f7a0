// The seed's Android sample callback (guide §4.1), verbatim: logs msgData and reports the message received.
// SPDX-License-Identifier: Apache-2.0
package com.example.syncdemo;

import android.util.Log;
import com.alipay.mobile.rome.longlinkservice.ISyncCallback;
import com.alipay.mobile.rome.longlinkservice.syncmodel.SyncMessage;
import com.mpaas.mss.adapter.api.MPSync;

public class SyncCallBackImpl implements ISyncCallback
{
    @Override
    public void onReceiveMessage(SyncMessage syncMessage) {
        //在 Logcat 打印数据同步数据。
        Log.e("=====", syncMessage.msgData);
        //通知数据同步服务端接收同步数据成功。
        MPSync.reportMsgReceived(syncMessage);
    }
}
