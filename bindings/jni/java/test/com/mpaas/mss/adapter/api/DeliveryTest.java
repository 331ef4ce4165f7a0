// JUnit: what arrives — msgData exactly as SPEC §5, userId/biz/id/hasMore, user and device dimension, several bizTypes, Chinese/emoji/binary payloads.
// SPDX-License-Identifier: Apache-2.0
package com.mpaas.mss.adapter.api;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import com.alipay.mobile.rome.longlinkservice.syncmodel.SyncMessage;
import com.mpaas.mas.adapter.api.MPLogger;
import com.ut.device.UTDevice;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class DeliveryTest extends SyncTestBase {
    private static final List<String> TEXT_KEYS = Arrays.asList("mk", "st", "bId", "ext", "mct", "pl");

    @Test
    public void userMessageHasVendorShape() throws Exception {
        MPSync.initialize(context);
        assertFalse("no MPLogger user id yet", MPSync.updateUserInfo("session-1"));
        Recorder rec = new Recorder();
        MPSync.registerBiz("UCHAT", rec);
        start("user-1");

        long before = System.currentTimeMillis();
        String text = "你好，世界：同步数据 ✓";
        pushOk("UCHAT", "user-1", "m-1", text);
        SyncMessage m = rec.take();
        assertEquals("user-1", m.userId);
        assertEquals("UCHAT", m.biz);
        assertNotNull(m.id);
        assertFalse(m.id.isEmpty());
        assertNull(m.pushData);
        assertFalse(m.hasMore);
        assertFalse(m.msgData.contains("isB"));
        List<Map<String, Object>> ops = Json.array(m.msgData);
        assertEquals(1, ops.size());
        Map<String, Object> op = ops.get(0);
        assertEquals(TEXT_KEYS, new ArrayList<>(op.keySet()));
        assertTrue((Long) op.get("mk") > 0);
        assertEquals(0L, op.get("st"));
        assertEquals("m-1", op.get("bId"));
        assertEquals("", op.get("ext"));
        long mct = (Long) op.get("mct");
        assertTrue("mct " + mct, mct >= before - 5000 && mct <= System.currentTimeMillis() + 5000);
        assertEquals(text, op.get("pl"));
    }

    @Test
    public void nonAsciiUserIdAndPayloadsSurviveBothWays() throws Exception {
        // 4-byte UTF-8 (emoji, CJK extension B) is where modified UTF-8 and UTF-8 differ.
        String user = "张三😀";
        Recorder rec = new Recorder();
        MPSync.initialize(context);
        MPSync.registerBiz("UCHAT", rec);
        start(user);
        String[] payloads = {
            "中文消息：数据同步",
            "emoji 😀👍🏽 and 𠀀 (U+20000)",
            "quote \" backslash \\ tab \t newline \n cr \r bell \u0007",
            "ASCII only",
        };
        for (int i = 0; i < payloads.length; i++) {
            pushOk("UCHAT", user, "t-" + i, payloads[i]);
        }
        List<Map<String, Object>> ops = rec.takeOplogs(payloads.length);
        for (int i = 0; i < payloads.length; i++) {
            assertEquals("t-" + i, ops.get(i).get("bId"));
            assertEquals(payloads[i], ops.get(i).get("pl"));
        }
        synchronized (rec.all) {
            for (SyncMessage m : rec.all) {
                assertEquals(user, m.userId);
            }
        }
    }

    @Test
    public void binaryPayloadIsBase64WithIsB() throws Exception {
        Recorder rec = new Recorder();
        MPSync.initialize(context);
        MPSync.registerBiz("UCHAT", rec);
        start("user-1");
        byte[] bytes = {0, 1, 2, (byte) 0xff, 'x', 0, (byte) 0x80, (byte) 0xf0, (byte) 0x9f};
        assertEquals("SUCCESS", pushBinary("UCHAT", "user-1", "bin-1", Base64.getEncoder().encodeToString(bytes)));
        SyncMessage m = rec.take();
        Map<String, Object> op = Json.array(m.msgData).get(0);
        List<String> keys = new ArrayList<>(TEXT_KEYS);
        keys.add("isB");
        assertEquals(keys, new ArrayList<>(op.keySet()));
        assertEquals("1", op.get("isB"));
        assertArrayEquals(bytes, Base64.getDecoder().decode((String) op.get("pl")));
    }

    @Test
    public void severalBizTypesOnOneDeliveryThread() throws Exception {
        String[] bizs = {"UCHAT", "TRADE", "NEWS"};
        Recorder[] recs = {new Recorder(), new Recorder(), new Recorder()};
        MPSync.initialize(context);
        for (int b = 0; b < bizs.length; b++) {
            MPSync.registerBiz(bizs[b], recs[b]);
        }
        start("user-1");
        for (int i = 0; i < 4; i++) {
            for (String biz : bizs) {
                pushOk(biz, "user-1", biz + "-" + i, biz + " 第" + i + "条");
            }
        }
        java.util.Set<Thread> threads = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (int b = 0; b < bizs.length; b++) {
            List<Map<String, Object>> ops = recs[b].takeOplogs(4);
            long lastMk = 0;
            for (int i = 0; i < 4; i++) {
                assertEquals(bizs[b] + "-" + i, ops.get(i).get("bId"));
                long mk = (Long) ops.get(i).get("mk");
                assertTrue("oplog ids increase", mk > lastMk);
                lastMk = mk;
            }
            recs[b].expectNothing(50);
            threads.addAll(recs[b].distinctThreads());
        }
        // SDK delivery threads (a pool of at most 16), each attached to the JVM once: 12 calls
        // from threads attached per call would show 12 distinct Thread objects.
        assertTrue("threads: " + threads, threads.size() <= 4);
        for (Thread t : threads) {
            assertTrue(t.getName(), t.getName().startsWith("mpsync-delivery-"));
            assertTrue(t.isDaemon());
            assertTrue(t != Thread.currentThread());
        }
    }

    @Test
    public void deviceDimensionDataHasNoUser() throws Exception {
        Recorder rec = new Recorder();
        MPSync.initialize(context);
        MPSync.registerBiz("DEVBIZ", rec);
        start("user-1");
        String device = UTDevice.getUtdid(context);
        pushOk("DEVBIZ", device, "dev-1", "设备数据");
        SyncMessage m = rec.take();
        assertEquals("", m.userId);
        assertEquals("DEVBIZ", m.biz);
        assertEquals("设备数据", Json.array(m.msgData).get(0).get("pl"));
        // Another device's data is not ours; and device data outlives a logout (C9).
        assertEquals("NOT_ONLINE", push("DEVBIZ", "another-device-000000000000", "dev-x", "x"));
        MPSync.clearUserInfo();
        MPLogger.setUserId(null);
        // clearUserInfo reconnects, so the device may be offline for a moment: then the server
        // keeps the oplog (persistent biz) for the next connect.
        assertTrue(Arrays.asList("SUCCESS", "NOT_ONLINE").contains(push("DEVBIZ", device, "dev-2", "登出后")));
        assertEquals("dev-2", Json.array(rec.take().msgData).get(0).get("bId"));
        rec.expectNothing(200);
    }

    @Test
    public void hasMoreWhileMoreOplogsWait() throws Exception {
        // Pushed while the app is offline: the server keeps them and sends all 12 in one batch at
        // connect, which the client caches in one transaction before dispatching.
        for (int i = 0; i < 12; i++) {
            assertEquals("NOT_ONLINE", push("BACKLOG", "user-1", "b-" + i, "积压 " + i));
        }
        Recorder rec = new Recorder();
        rec.report = false;
        MPSync.initialize(context);
        MPSync.registerBiz("BACKLOG", rec);
        start("user-1");
        SyncMessage m = rec.take(); // 10 oplogs: the per-message maximum
        assertTrue("hasMore with 12 waiting: " + m, m.hasMore);
        List<Map<String, Object>> first = Json.array(m.msgData);
        assertEquals(10, first.size());
        assertEquals("b-0", first.get(0).get("bId"));
        MPSync.reportMsgReceived(m);
        SyncMessage rest = rec.take();
        List<Map<String, Object>> second = Json.array(rest.msgData);
        assertEquals(2, second.size());
        assertEquals("b-10", second.get(0).get("bId"));
        assertFalse(rest.hasMore);
        MPSync.reportMsgReceived(rest);
    }

    /**
     * Issue 13 item 7, the Android side of the rule docs/IOS.md states for iOS: a text payload that
     * is not valid UTF-8, between two valid oplogs of one message, reaches the app with its bad
     * bytes as U+FFFD (Java's UTF-8 decoder) and its neighbours intact, at the first delivery.
     */
    @Test
    public void invalidUtf8PayloadKeepsItsNeighbours() throws Exception {
        assertEquals("NOT_ONLINE", push("UCHAT", "user-1", "p1", "before"));
        // A lone 0xFF, a 3-byte sequence cut after 2 bytes, a UTF-8-encoded surrogate, an overlong.
        byte[] head = "{\"bizType\":\"UCHAT\",\"linkToken\":\"user-1\",\"thirdMsgId\":\"p2\",\"payload\":\"a"
                .getBytes(StandardCharsets.US_ASCII);
        byte[] bad = {(byte) 0xff, ' ', 'b', (byte) 0xe4, (byte) 0xb8, ' ', 'c', (byte) 0xed, (byte) 0xa0,
            (byte) 0x80, ' ', 'd', (byte) 0xc0, (byte) 0xaf, ' ', 'e', '"', '}'};
        byte[] body = Arrays.copyOf(head, head.length + bad.length);
        System.arraycopy(bad, 0, body, head.length, bad.length);
        assertEquals("NOT_ONLINE", server.pushSingleRaw(INSTANCE, body));
        assertEquals("NOT_ONLINE", push("UCHAT", "user-1", "p3", "after 交易"));

        Recorder rec = new Recorder();
        MPSync.initialize(context);
        MPSync.registerBiz("UCHAT", rec);
        start("user-1");
        SyncMessage m = rec.take();
        List<Map<String, Object>> ops = Json.array(m.msgData);
        assertEquals(3, ops.size());
        assertEquals("before", ops.get(0).get("pl"));
        // One U+FFFD per maximal ill-formed subpart (the core's msgData writer, docs/SEMANTICS.md).
        assertEquals("a\ufffd b\ufffd c\ufffd\ufffd\ufffd d\ufffd\ufffd e", ops.get(1).get("pl"));
        assertEquals("after 交易", ops.get(2).get("pl"));
    }
}
