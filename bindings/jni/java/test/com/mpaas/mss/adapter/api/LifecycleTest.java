// JUnit: JNI lifetimes — global references freed on unregister/remove/shutdown, the delivery thread attached once and detached at shutdown.
// SPDX-License-Identifier: Apache-2.0
package com.mpaas.mss.adapter.api;

import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;

import com.alipay.mobile.rome.longlinkservice.ConnectionListener;
import com.alipay.mobile.rome.longlinkservice.syncmodel.SyncMessage;
import com.mpaas.mas.adapter.api.MPLogger;
import com.mpaas.mobile.rome.longlinkservice.ConnectionEvent;
import com.ut.device.UTDevice;
import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.junit.Test;

public class LifecycleTest extends SyncTestBase {
    static final class NullListener implements ConnectionListener {
        @Override
        public void onConnectionStateChanged(ConnectionEvent event) {
        }
    }

    // Separate methods so no strong reference stays in the test's own stack frame.
    private static WeakReference<Recorder> registered(String biz) {
        Recorder r = new Recorder();
        MPSync.registerBiz(biz, r);
        return new WeakReference<>(r);
    }

    private static WeakReference<ConnectionListener> added() {
        ConnectionListener l = new NullListener();
        MPSync.addConnectionListener(l);
        return new WeakReference<>(l);
    }

    @Test
    public void callbackIsHeldUntilUnregisterThenReleased() throws Exception {
        MPSync.initialize(context);
        WeakReference<Recorder> cb = registered("UCHAT");
        assertFalse("the SDK holds a registered callback", collected(cb));
        WeakReference<Recorder> replaced = registered("TRADE");
        WeakReference<Recorder> replacement = registered("TRADE");
        assertTrue("a replaced callback is released", collected(replaced));
        MPSync.unregisterBiz("UCHAT");
        assertTrue("unregisterBiz releases the callback", collected(cb));
        assertFalse(collected(replacement));
        MPSync.unregisterBiz("TRADE");
        assertTrue(collected(replacement));
    }

    @Test
    public void listenerIsHeldUntilRemovedThenReleased() throws Exception {
        WeakReference<ConnectionListener> l = added();
        assertFalse("the SDK holds a listener", collected(l));
        ConnectionListener strong = l.get();
        assertNotNull(strong);
        MPSync.removeConnectionListener(strong);
        strong = null;
        assertTrue("removeConnectionListener releases it", collected(l));
    }

    @Test
    public void shutdownReleasesEverything() throws Exception {
        MPSync.initialize(context);
        WeakReference<Recorder> cb = registered("UCHAT");
        WeakReference<ConnectionListener> l = added();
        MPSync.shutdown();
        assertTrue(collected(cb));
        assertTrue(collected(l));
    }

    @Test
    public void deliveryThreadsAreAttachedOnceAndDetachedAtShutdown() throws Exception {
        String[] bizs = {"UCHAT", "TRADE", "NEWS"};
        Recorder[] recs = {new Recorder(), new Recorder(), new Recorder()};
        MPSync.initialize(context);
        for (int b = 0; b < bizs.length; b++) {
            MPSync.registerBiz(bizs[b], recs[b]);
        }
        start("user-1");
        int perBiz = 10;
        for (int i = 0; i < perBiz; i++) {
            for (String biz : bizs) {
                pushOk(biz, "user-1", biz + "-" + i, "x");
            }
        }
        Set<Thread> threads = Collections.newSetFromMap(new IdentityHashMap<>());
        int calls = 0;
        for (Recorder r : recs) {
            r.takeOplogs(perBiz);
            threads.addAll(r.distinctThreads());
            synchronized (r.threads) {
                calls += r.threads.size();
            }
        }
        // Attached once per SDK thread: the pool (default 4) shows at most that many Thread
        // objects however many calls ran; attaching per call would show one object per call.
        assertTrue(calls + " calls on " + threads, threads.size() <= 4 && threads.size() < calls);
        for (Thread t : threads) {
            assertTrue(t.getName(), t.getName().startsWith("mpsync-delivery-"));
            assertTrue(t.isAlive());
        }
        MPSync.shutdown();
        for (Thread t : threads) {
            t.join(5000);
            assertFalse("SDK thread " + t.getName() + " detached from the JVM when it exited", t.isAlive());
        }
        // And the SDK starts again after a shutdown.
        MPSync.initialize(context);
        MPSync.appToForeground();
        waitConnected();
    }

    /**
     * Issue 12 defect 10: every native call racing MPSync.shutdown from other threads, many times.
     * The shutdown must wait for calls already inside the SDK and make later ones answer "shut
     * down"; a call that used the freed client crashed or hung the JVM here.
     */
    @Test
    public void callsRacingShutdownNeverUseAFreedClient() throws Exception {
        Logger log = Logger.getLogger("mpsync");
        Level level = log.getLevel();
        // Thousands of "not initialized" and "not in flight" warnings are the expected outcome.
        log.setLevel(Level.OFF);
        System.setProperty("mpsync.logLevel", "error");
        try {
            MPLogger.setUserId("user-1");
            SyncMessage stale = new SyncMessage();
            stale.biz = "UCHAT";
            stale.id = "1,1,1";
            // A well-formed id a million digits long: converting and checking it takes a while
            // after the native call has found the client, which widens the window a shutdown
            // needs to free that client under the call.
            SyncMessage slow = new SyncMessage();
            slow.biz = "UCHAT";
            char[] digits = new char[1_000_000];
            Arrays.fill(digits, '7');
            slow.id = "1,1," + new String(digits);
            Random random = new Random(12);
            AtomicLong calls = new AtomicLong();
            for (int round = 0; round < 40; round++) {
                MPSync.initialize(context);
                AtomicBoolean done = new AtomicBoolean();
                CountDownLatch go = new CountDownLatch(1);
                List<Thread> threads = new ArrayList<>();
                // Calls that queue a command and return are paced: unpaced, they pile up in the
                // SDK faster than its network thread takes them, and shutdown then drains seconds
                // of them. Calls that wait for their answer run flat out.
                Runnable[] paced = {
                    () -> {
                        MPSync.appToForeground();
                        MPSync.appToBackground();
                    },
                    () -> {
                        MPSync.updateUserInfo("session-" + calls.get());
                        MPSync.clearUserInfo();
                    },
                    () -> {
                        MPSync.registerBiz("UCHAT", new Recorder());
                        MPSync.unregisterBiz("UCHAT");
                    },
                };
                Runnable[] flatOut = {
                    () -> MPSync.reportMsgReceived(slow),
                    () -> {
                        MPSync.reportMsgReceived(stale);
                        MPSync.isConnected();
                    },
                };
                for (int k = 0; k < paced.length + flatOut.length; k++) {
                    boolean pace = k < paced.length;
                    Runnable kind = pace ? paced[k] : flatOut[k - paced.length];
                    Thread t = new Thread(() -> {
                        try {
                            go.await();
                        } catch (InterruptedException e) {
                            return;
                        }
                        while (!done.get()) {
                            kind.run();
                            calls.incrementAndGet();
                            if (pace) {
                                LockSupport.parkNanos(50_000);
                            }
                        }
                    });
                    threads.add(t);
                    t.start();
                }
                go.countDown();
                Thread.sleep(random.nextInt(20));
                MPSync.shutdown();
                Thread.sleep(2); // calls after the shutdown meet no client
                done.set(true);
                for (Thread t : threads) {
                    t.join(10_000);
                    assertFalse("a call still blocked 10 s after shutdown", t.isAlive());
                }
            }
            assertTrue(calls.get() + " calls", calls.get() > 100);
            // The device id read races a shutdown too; afterwards the SDK starts and works again.
            Thread reader = new Thread(() -> UTDevice.getUtdid(context));
            reader.start();
            MPSync.shutdown();
            reader.join(10_000);
            assertFalse(reader.isAlive());
        } finally {
            log.setLevel(level);
            System.clearProperty("mpsync.logLevel");
        }
        Recorder r = new Recorder();
        MPSync.initialize(context);
        MPSync.registerBiz("UCHAT", r);
        start("user-1");
        pushOk("UCHAT", "user-1", "after-race", "x");
        r.takeOplogs(1);
    }
}
