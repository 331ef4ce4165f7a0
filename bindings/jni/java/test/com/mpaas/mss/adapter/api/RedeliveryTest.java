// JUnit: unreported and throwing callbacks get the message again; unregister keeps the backlog and register delivers it; many messages.
// SPDX-License-Identifier: Apache-2.0
package com.mpaas.mss.adapter.api;

import static org.junit.Assert.assertEquals;

import com.alipay.mobile.rome.longlinkservice.ISyncCallback;
import com.alipay.mobile.rome.longlinkservice.syncmodel.SyncMessage;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.Test;

public class RedeliveryTest extends SyncTestBase {
    private static Map<String, Object> only(SyncMessage m) {
        List<Map<String, Object>> ops = Json.array(m.msgData);
        assertEquals(1, ops.size());
        return ops.get(0);
    }

    @Test
    public void unreportedMessageComesBack() throws Exception {
        Recorder rec = new Recorder();
        rec.report = false;
        MPSync.initialize(context);
        MPSync.registerBiz("UCHAT", rec);
        start("user-1");
        pushOk("UCHAT", "user-1", "r-1", "未确认");
        Map<String, Object> first = only(rec.take());
        rec.expectNothing(300); // not before the back-off (5 s) or a foreground
        rec.report = true;
        cycle(); // each foreground hands unreported messages out again
        SyncMessage again = rec.take();
        assertEquals(first.get("mk"), only(again).get("mk"));
        assertEquals("r-1", only(again).get("bId"));
        pushOk("UCHAT", "user-1", "r-2", "下一条");
        assertEquals("r-2", only(rec.takeUntil("r-2")).get("bId")); // reported: the queue moved on
    }

    @Test
    public void throwingCallbackIsNotReportedAndGetsItAgain() throws Exception {
        Recorder rec = new Recorder();
        rec.throwTimes = 1;
        MPSync.initialize(context);
        MPSync.registerBiz("UCHAT", rec);
        start("user-1");
        pushOk("UCHAT", "user-1", "x-1", "抛异常");
        Object mk = only(rec.take()).get("mk"); // threw: logged, process fine, not reported
        pushOk("UCHAT", "user-1", "x-2", "正常");
        rec.expectNothing(300); // x-1 still in flight: x-2 waits behind it
        cycle();
        assertEquals(mk, only(rec.take()).get("mk")); // delivered again, reported this time
        assertEquals("x-2", only(rec.takeUntil("x-2")).get("bId")); // so the queue moved on
        // (Delivery is at least once: a redelivered copy may still follow; takeUntil skips it.)
        pushOk("UCHAT", "user-1", "x-3", "之后");
        assertEquals("x-3", only(rec.takeUntil("x-3")).get("bId"));
    }

    @Test
    public void unregisterKeepsDataAndRegisterDeliversBacklog() throws Exception {
        Recorder before = new Recorder();
        MPSync.initialize(context);
        MPSync.registerBiz("UCHAT", before);
        start("user-1");
        pushOk("UCHAT", "user-1", "u-1", "one");
        assertEquals("u-1", only(before.take()).get("bId"));
        MPSync.unregisterBiz("UCHAT");
        pushOk("UCHAT", "user-1", "u-2", "two");
        pushOk("UCHAT", "user-1", "u-3", "three");
        before.expectNothing(400);
        Recorder after = new Recorder();
        MPSync.registerBiz("UCHAT", after);
        List<Map<String, Object>> ops = after.takeOplogs(2);
        assertEquals("u-2", ops.get(0).get("bId"));
        assertEquals("u-3", ops.get(1).get("bId"));
        before.expectNothing(50);
    }

    @Test
    public void registerAgainReplacesTheCallback() throws Exception {
        Recorder old = new Recorder();
        Recorder fresh = new Recorder();
        MPSync.initialize(context);
        MPSync.registerBiz("UCHAT", old);
        MPSync.registerBiz("UCHAT", fresh);
        start("user-1");
        pushOk("UCHAT", "user-1", "n-1", "new");
        assertEquals("n-1", only(fresh.take()).get("bId"));
        old.expectNothing(200);
    }

    @Test
    public void callbackMayUnregisterItself() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        ISyncCallback selfRemoving = new ISyncCallback() {
            @Override
            public void onReceiveMessage(SyncMessage msg) {
                calls.incrementAndGet();
                MPSync.reportMsgReceived(msg);
                MPSync.unregisterBiz(msg.biz); // from the delivery thread: must not deadlock
            }
        };
        MPSync.initialize(context);
        MPSync.registerBiz("UCHAT", selfRemoving);
        start("user-1");
        pushOk("UCHAT", "user-1", "s-1", "once");
        long end = System.nanoTime() + 10_000_000_000L;
        while (calls.get() == 0 && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        assertEquals(1, calls.get());
        pushOk("UCHAT", "user-1", "s-2", "kept");
        Recorder rec = new Recorder();
        Thread.sleep(200);
        assertEquals(1, calls.get());
        MPSync.registerBiz("UCHAT", rec);
        assertEquals("s-2", only(rec.take()).get("bId"));
    }

    @Test
    public void manyMessagesInOrder() throws Exception {
        // Hundreds of callbacks on one attached thread: any local reference not freed per call
        // would pile up (and -Xcheck:jni would report it).
        Recorder rec = new Recorder();
        MPSync.initialize(context);
        MPSync.registerBiz("UCHAT", rec);
        start("user-1");
        int n = 300;
        for (int i = 0; i < n; i++) {
            pushOk("UCHAT", "user-1", "many-" + i, "第 " + i + " 条 😀");
        }
        List<Map<String, Object>> ops = rec.takeOplogs(n);
        for (int i = 0; i < n; i++) {
            assertEquals("many-" + i, ops.get(i).get("bId"));
        }
    }
}
