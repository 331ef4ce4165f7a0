// Test base: per test a fresh mock server, temp dirs and meta.config, and an SDK shut down afterwards so nothing leaks between tests.
// SPDX-License-Identifier: Apache-2.0
package com.mpaas.mss.adapter.api;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;

import com.alipay.mobile.rome.longlinkservice.ConnectionListener;
import com.mpaas.mas.adapter.api.MPLogger;
import com.mpaas.mobile.rome.longlinkservice.ConnectionEvent;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.After;
import org.junit.Before;
import org.junit.Rule;
import org.junit.rules.TestWatcher;
import org.junit.runner.Description;

public abstract class SyncTestBase {
    static final String WORKSPACE = "ws";
    static final String APP = "app";
    static final String INSTANCE = WORKSPACE + "_" + APP;

    /** bizTypes of every test: user dimension unless named DEV*, and the sample's device biz "bizType". */
    static final String BIZ_FILE = "[" + biz("UCHAT", "user") + "," + biz("TRADE", "user") + ","
            + biz("NEWS", "user") + "," + biz("BACKLOG", "user") + "," + biz("DEVBIZ", "device") + ","
            + biz("bizType", "device") + "]";

    protected File tmp;
    protected MockServer server;
    protected TestContext context;

    /** Prints the server log of a failed test, then removes the temp dir (rules run after @After). */
    @Rule
    public final TestWatcher dumpServerLog = new TestWatcher() {
        @Override
        protected void failed(Throwable e, Description d) {
            if (server != null) {
                System.err.println("---- mock server log of " + d + "\n" + server.logText());
            }
        }

        @Override
        protected void finished(Description d) {
            try {
                deleteTree(tmp == null ? null : tmp.toPath());
            } catch (IOException e) {
                System.err.println("cannot delete " + tmp + ": " + e);
            }
        }
    };

    static String biz(String name, String dimension) {
        return "{\"bizType\":\"" + name + "\",\"scope\":\"specified\",\"dimension\":\"" + dimension
                + "\",\"multiDevice\":true,\"persistent\":true,\"repushMode\":\"queue\"}";
    }

    @Before
    public void startServer() throws Exception {
        tmp = Files.createTempDirectory("mpsync-jni-").toFile();
        server = new MockServer(new File(tmp, "server"), BIZ_FILE);
        context = new TestContext(new File(tmp, "app"));
        File meta = new File(tmp, "meta.config");
        Files.write(meta.toPath(), server.metaConfig(WORKSPACE, APP).getBytes(StandardCharsets.UTF_8));
        // The desktop way to point initialize() at its files (see MPSync's class comment).
        System.setProperty("mpsync.metaConfig", meta.getPath());
        System.setProperty("mpsync.dataDir", new File(tmp, "cache").getPath());
        MPLogger.setUserId(null);
    }

    @After
    public void stopEverything() {
        try {
            MPSync.shutdown();
        } finally {
            System.clearProperty("mpsync.metaConfig");
            System.clearProperty("mpsync.dataDir");
            MPLogger.setUserId(null);
            android.util.Log.sink = null;
            server.close();
        }
    }

    /** initialize + bind user (if given) + foreground, and wait for the link. */
    protected void start(String userId) throws InterruptedException {
        MPSync.initialize(context);
        if (userId != null) {
            MPLogger.setUserId(userId);
            assertTrue(MPSync.updateUserInfo("session-1"));
        }
        MPSync.appToForeground();
        waitConnected();
    }

    protected static void waitConnected() throws InterruptedException {
        long end = System.nanoTime() + 10_000_000_000L;
        while (!MPSync.isConnected()) {
            assertTrue("not connected within 10 s", System.nanoTime() < end);
            Thread.sleep(10);
        }
    }

    /**
     * Background then foreground: the SDK hands every unreported message out again at once (C6) —
     * possibly twice, at the foreground and again when the new link is up. Waits for the real
     * Disconnected and Connected events: isConnected() alone may still show the old link.
     */
    protected static void cycle() throws InterruptedException {
        BlockingQueue<ConnectionEvent.Type> events = new LinkedBlockingQueue<>();
        ConnectionListener l = e -> events.add(e.getEventType());
        MPSync.addConnectionListener(l);
        try {
            MPSync.appToBackground();
            awaitEvent(events, ConnectionEvent.Type.Disconnected);
            MPSync.appToForeground();
            awaitEvent(events, ConnectionEvent.Type.Connected);
        } finally {
            MPSync.removeConnectionListener(l);
        }
    }

    private static void awaitEvent(BlockingQueue<ConnectionEvent.Type> q, ConnectionEvent.Type want)
            throws InterruptedException {
        for (;;) {
            ConnectionEvent.Type t = q.poll(10, TimeUnit.SECONDS);
            assertNotNull("no " + want + " event within 10 s", t);
            if (t == want) {
                return;
            }
        }
    }

    protected String push(String biz, String linkToken, String thirdMsgId, String payload) throws IOException {
        Map<String, String> body = new LinkedHashMap<>();
        body.put("bizType", biz);
        body.put("linkToken", linkToken);
        body.put("thirdMsgId", thirdMsgId);
        body.put("payload", payload);
        return server.pushSingle(INSTANCE, body);
    }

    protected void pushOk(String biz, String linkToken, String thirdMsgId, String payload) throws IOException {
        assertEquals("SUCCESS", push(biz, linkToken, thirdMsgId, payload));
    }

    protected String pushBinary(String biz, String linkToken, String thirdMsgId, String base64) throws IOException {
        Map<String, String> body = new LinkedHashMap<>();
        body.put("bizType", biz);
        body.put("linkToken", linkToken);
        body.put("thirdMsgId", thirdMsgId);
        body.put("binaryPayload", base64);
        return server.pushSingle(INSTANCE, body);
    }

    static void deleteTree(Path root) throws IOException {
        if (root == null || !Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    /** Runs the GC until the referent is gone (a global reference would keep it forever). */
    static boolean collected(java.lang.ref.WeakReference<?> ref) throws InterruptedException {
        for (int i = 0; i < 50 && ref.get() != null; i++) {
            System.gc();
            Thread.sleep(20);
        }
        return ref.get() == null;
    }
}
