// A vendor-style app using every MPSync member of guide §7.1 and SPEC §5: must compile against mpsync.jar unchanged.
// SPDX-License-Identifier: Apache-2.0
package com.example.syncdemo;

import android.app.Application;
import android.util.Log;
import com.alipay.mobile.rome.longlinkservice.ConnectionListener;
import com.alipay.mobile.rome.longlinkservice.ISyncCallback;
import com.alipay.mobile.rome.longlinkservice.syncmodel.SyncMessage;
import com.mpaas.mas.adapter.api.MPLogger;
import com.mpaas.mobile.rome.longlinkservice.ConnectionEvent;
import com.mpaas.mss.adapter.api.MPSync;

public class DemoApplication extends Application {
    private final ConnectionListener listener = new ConnectionListener() {
        @Override
        public void onConnectionStateChanged(ConnectionEvent event) {
            if (event.getEventType() == ConnectionEvent.Type.ConnectFailed) {
                Log.w("sync", "connect failed");
            }
            Log.i("sync", "connected=" + event.isConnected());
        }
    };

    @Override
    public void onCreate() {
        super.onCreate();
        MPSync.setup(this);
        MPSync.initialize(this);
        MPSync.addConnectionListener(listener);
        MPSync.registerBiz("SYNC-TRADE-DATA", new ISyncCallback() {
            @Override
            public void onReceiveMessage(SyncMessage msg) {
                String user = msg.userId;
                String data = msg.msgData;
                String push = msg.pushData;
                boolean more = msg.hasMore;
                Log.i("sync", msg.biz + " " + msg.id + " " + user + " " + data + " " + push + " " + more);
                MPSync.reportMsgReceived(msg);
            }
        });
    }

    public boolean login(String userId, String sessionId) {
        MPLogger.setUserId(userId);
        return MPSync.updateUserInfo(sessionId) && MPSync.isConnected();
    }

    public void logout() {
        MPSync.clearUserInfo();
        MPSync.unregisterBiz("SYNC-TRADE-DATA");
        MPSync.removeConnectionListener(listener);
    }

    public void onForeground() {
        MPSync.appToForeground();
    }

    public void onBackground() {
        MPSync.appToBackground();
    }

    public String currentUser() {
        return MPLogger.getUserId();
    }

    public ConnectionEvent.Type[] states() {
        return new ConnectionEvent.Type[] {ConnectionEvent.Type.Unknown, ConnectionEvent.Type.Connecting,
            ConnectionEvent.Type.Connected, ConnectionEvent.Type.ConnectFailed, ConnectionEvent.Type.Disconnected};
    }
}
