// JUnit: the seed's Android sample (MainActivity.button1Clicked + SyncCallBackImpl) run unchanged, and where initialize() finds its files.
// SPDX-License-Identifier: Apache-2.0
package com.mpaas.mss.adapter.api;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;

import android.app.Application;
import android.content.Context;
import com.alipay.mobile.rome.longlinkservice.syncmodel.SyncMessage;
import com.example.syncdemo.MainActivity;
import com.mpaas.mas.adapter.api.MPLogger;
import com.ut.device.UTDevice;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.Test;

public class VendorSampleTest extends SyncTestBase {
    /** The sample's Activity; Android would attach its Context, here the test does (the one adaptation). */
    static final class SampleActivity extends MainActivity {
        SampleActivity(Context base) {
            attachBaseContext(base);
        }
    }

    /** On a device there are no system properties: initialize() looks in the Context. */
    private void useContextFilesOnly(boolean asAsset) throws Exception {
        System.clearProperty("mpsync.metaConfig");
        System.clearProperty("mpsync.dataDir");
        File dir = asAsset ? context.assetsDir : context.filesDir;
        Files.write(new File(dir, "meta.config").toPath(),
                server.metaConfig(WORKSPACE, APP).getBytes(StandardCharsets.UTF_8));
    }

    private static String nextLine(BlockingQueue<String> lines, String containing) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        for (;;) {
            String l = lines.poll(Math.max(1, end - System.nanoTime()), TimeUnit.NANOSECONDS);
            assertNotNull("no log line containing " + containing, l);
            if (l.contains(containing)) {
                return l;
            }
        }
    }

    @Test
    public void sampleReceivesAndReportsDeviceData() throws Exception {
        useContextFilesOnly(false);
        BlockingQueue<String> logcat = new LinkedBlockingQueue<>();
        android.util.Log.sink = logcat::add;

        new SampleActivity(context).button1Clicked(null);

        String utdid = UTDevice.getUtdid(context);
        assertNotNull(utdid);
        assertTrue("device id is 24+ characters: " + utdid, utdid.length() >= 24);
        assertEquals("E/=====: " + utdid, nextLine(logcat, utdid)); // the sample logs its utdid first
        assertTrue("cache lives in <filesDir>/mpsync", new File(context.filesDir, "mpsync").isDirectory());
        waitConnected();

        pushOk("bizType", utdid, "sample-1", "同步数据 1");
        String line = nextLine(logcat, "sample-1");
        List<Map<String, Object>> oplogs = Json.array(line.substring("E/=====: ".length()));
        assertEquals("同步数据 1", oplogs.get(0).get("pl"));
        // One message per bizType is in flight until reported: the next one arriving proves that
        // SyncCallBackImpl's MPSync.reportMsgReceived went through.
        pushOk("bizType", utdid, "sample-2", "同步数据 2");
        assertTrue(nextLine(logcat, "sample-2").contains("同步数据 2"));
    }

    @Test
    public void metaConfigFromAssetsAndSetupApplication() throws Exception {
        useContextFilesOnly(true);
        Application app = new Application() {
            {
                attachBaseContext(context);
            }
        };
        MPSync.setup(app);
        MPSync.initialize(null); // the Application given to setup() stands in
        assertTrue("asset copied out for the C core",
                new File(context.filesDir, "mpsync/meta.config").isFile());
        MPSync.appToForeground();
        waitConnected();
        MPSync.initialize(context); // a second initialize does nothing
        assertTrue(MPSync.isConnected());
    }

    @Test
    public void withoutInitializeNothingThrows() throws Exception {
        System.setProperty("mpsync.metaConfig", new File(tmp, "no-such-meta.config").getPath());
        MPSync.initialize(context); // fails: logged, not thrown
        assertFalse(MPSync.isConnected());
        MPLogger.setUserId("u1");
        assertFalse(MPSync.updateUserInfo("s"));
        MPSync.registerBiz("UCHAT", new Recorder());
        MPSync.unregisterBiz("UCHAT");
        MPSync.appToForeground();
        MPSync.appToBackground();
        MPSync.clearUserInfo();
        MPSync.reportMsgReceived(new SyncMessage());
        MPSync.reportMsgReceived(null);
        MPSync.registerBiz(null, null);
        assertEquals(null, UTDevice.getUtdid(context));
    }
}
