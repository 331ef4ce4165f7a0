// Test helper: an ISyncCallback that queues what it receives and can skip the report or throw, like a faulty app.
// SPDX-License-Identifier: Apache-2.0
package com.mpaas.mss.adapter.api;

import static org.junit.Assert.assertNull;
import static org.junit.Assert.fail;

import com.alipay.mobile.rome.longlinkservice.ISyncCallback;
import com.alipay.mobile.rome.longlinkservice.syncmodel.SyncMessage;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

class Recorder implements ISyncCallback {
    final BlockingQueue<SyncMessage> got = new LinkedBlockingQueue<>();
    final List<Thread> threads = new ArrayList<>();
    /** Every message ever received, in order (guarded by itself). */
    final List<SyncMessage> all = new ArrayList<>();
    /** Report each message received (what a correct app does). */
    volatile boolean report = true;
    /** Throw from this many upcoming calls (after queueing the message, without reporting). */
    volatile int throwTimes;

    @Override
    public void onReceiveMessage(SyncMessage msg) {
        synchronized (threads) {
            threads.add(Thread.currentThread());
        }
        synchronized (all) {
            all.add(msg);
        }
        got.add(msg);
        if (throwTimes > 0) {
            throwTimes--;
            throw new IllegalStateException("app callback failure (thrown on purpose by the test)");
        }
        if (report) {
            MPSync.reportMsgReceived(msg);
        }
    }

    SyncMessage take() throws InterruptedException {
        SyncMessage m = got.poll(10, TimeUnit.SECONDS);
        if (m == null) {
            fail("no message within 10 s");
        }
        return m;
    }

    /** Takes messages (skipping redelivered copies of others) until one holds this thirdMsgId. */
    SyncMessage takeUntil(String thirdMsgId) throws InterruptedException {
        for (;;) {
            SyncMessage m = take();
            for (Map<String, Object> op : Json.array(m.msgData)) {
                if (thirdMsgId.equals(op.get("bId"))) {
                    return m;
                }
            }
        }
    }

    /** Distinct java.lang.Thread objects that ran this callback. */
    java.util.Set<Thread> distinctThreads() {
        synchronized (threads) {
            java.util.Set<Thread> s = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
            s.addAll(threads);
            return s;
        }
    }

    /** Takes messages until they hold n oplogs in all; returns the oplogs in order. */
    List<Map<String, Object>> takeOplogs(int n) throws InterruptedException {
        List<Map<String, Object>> all = new ArrayList<>();
        while (all.size() < n) {
            all.addAll(Json.array(take().msgData));
        }
        return all;
    }

    void expectNothing(long ms) throws InterruptedException {
        assertNull("unexpected message", got.poll(ms, TimeUnit.MILLISECONDS));
    }
}
