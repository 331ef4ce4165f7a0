// JUnit: what the app tells the server about itself — the versionName its version filters see, and updateUserInfo refusing an empty session (issue 15).
// SPDX-License-Identifier: Apache-2.0
package com.mpaas.mss.adapter.api;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import com.mpaas.mas.adapter.api.MPLogger;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class AppIdentityTest extends SyncTestBase {
    /** A push to user-1's UCHAT with an app version range (null = open end). */
    private String pushRange(String thirdMsgId, String min, String max) throws IOException {
        Map<String, String> body = new LinkedHashMap<>();
        body.put("bizType", "UCHAT");
        body.put("linkToken", "user-1");
        body.put("thirdMsgId", thirdMsgId);
        body.put("payload", thirdMsgId);
        if (min != null) {
            body.put("appMinVersion", min);
        }
        if (max != null) {
            body.put("appMaxVersion", max);
        }
        return server.pushSingle(INSTANCE, body);
    }

    /**
     * Pushes one oplog per range to the online device, in order; exactly the one named wanted fits
     * the version the device reported. The bizType delivers in order, so the first oplog to arrive
     * being the wanted one shows every earlier one was filtered out, and silence after it shows
     * the later ones were.
     */
    private void onlyThisRangeArrives(Recorder r, String wanted, String[][] ranges) throws Exception {
        for (String[] range : ranges) {
            assertEquals("SUCCESS", pushRange(range[0], range[1], range[2]));
        }
        List<Map<String, Object>> got = r.takeOplogs(1);
        assertEquals(wanted, got.get(0).get("bId"));
        assertEquals(1, got.size());
        r.expectNothing(500);
    }

    private Recorder startUser1() throws InterruptedException {
        Recorder r = new Recorder();
        MPSync.initialize(context);
        MPSync.registerBiz("UCHAT", r);
        start("user-1");
        return r;
    }

    @Test
    public void versionNameFromPackageManagerDecidesVersionFilteredPushes() throws Exception {
        context.versionName = "3.1.0";
        Recorder r = startUser1();
        onlyThisRangeArrives(r, "fits", new String[][] {
            {"too-old-for-it", "3.2", null},
            {"too-new-for-it", null, "3.0.9"},
            {"fits", "3.1", "3.1.0"},
            {"default-only", null, "1.0.0"},
        });
    }

    @Test
    public void metaConfigAppVersionWinsOverVersionName() throws Exception {
        context.versionName = "3.1.0";
        String meta = server.metaConfig(WORKSPACE, APP).replaceFirst("\\{", "{\"mpsyncAppVersion\":\"2.0\",");
        Files.write(new File(System.getProperty("mpsync.metaConfig")).toPath(),
                meta.getBytes(StandardCharsets.UTF_8));
        Recorder r = startUser1();
        onlyThisRangeArrives(r, "fits-2.0", new String[][] {
            {"fits-3.1", "3.1", null},
            {"fits-2.0", "2.0", "2.0"},
        });
    }

    @Test
    public void withoutVersionNameTheDefaultIsReported() throws Exception {
        context.versionName = null;
        Recorder r = startUser1();
        onlyThisRangeArrives(r, "fits-1.0.0", new String[][] {
            {"above", "1.0.1", null},
            {"fits-1.0.0", "1.0.0", "1.0.0"},
        });
    }

    /** The core takes 20 bytes of version; a longer versionName must not stop initialize. */
    @Test
    public void longVersionNameIsCutToItsLeadingNumber() throws Exception {
        context.versionName = "3.1.0-beta-build-20261202";
        Recorder r = startUser1();
        onlyThisRangeArrives(r, "fits", new String[][] {
            {"above", "3.1.1", null},
            {"fits", "3.1.0", "3.1.0"},
        });
    }

    /** Guide §7.1: "neither may be empty at login"; the binding in place stays as it was. */
    @Test
    public void updateUserInfoRefusesEmptyOrNullSession() throws Exception {
        Recorder r = startUser1();
        assertFalse(MPSync.updateUserInfo(""));
        assertFalse(MPSync.updateUserInfo(null));
        MPLogger.setUserId("user-2");
        assertFalse("a refused call does not switch the user", MPSync.updateUserInfo(""));
        Thread.sleep(300);
        assertTrue(MPSync.isConnected());
        pushOk("UCHAT", "user-1", "still-user-1", "x");
        assertEquals("still-user-1", r.takeOplogs(1).get(0).get("bId"));
        assertTrue(MPSync.updateUserInfo("session-2"));
    }
}
