// JUnit: JNI lifetimes — global references freed on unregister/remove/shutdown, the delivery thread attached once and detached at shutdown.
package com.mpaas.mss.adapter.api;

import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;

import com.alipay.mobile.rome.longlinkservice.ConnectionListener;
import com.mpaas.mobile.rome.longlinkservice.ConnectionEvent;
import java.lang.ref.WeakReference;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;
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
}
