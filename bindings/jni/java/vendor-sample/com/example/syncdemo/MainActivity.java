// The seed's Android sample (guide §4.1), verbatim inside an Activity: must compile and run against mpsync.jar unchanged.
// SPDX-License-Identifier: Apache-2.0
package com.example.syncdemo;

import android.app.Activity;
import android.util.Log;
import android.view.View;
import com.mpaas.mss.adapter.api.MPSync;
import com.ut.device.UTDevice;

public class MainActivity extends Activity {
    public void button1Clicked(View view)
    {
        //使用 getUtdid 方法获取设备 ID。
        String utdid =UTDevice.getUtdid(MainActivity.this);
        //在 Logcat 打印数据同步数据。
        Log.e("=====", utdid);
        //初始化接口和数据同步服务。
        MPSync.initialize(MainActivity.this);
        //注册接收业务数据的 callback。在获取到同步推送的数据后，回调 syncCallback。
        MPSync.registerBiz("bizType",new SyncCallBackImpl());
        //建立与服务器的网络连接。
        MPSync.appToForeground();
    }
}
