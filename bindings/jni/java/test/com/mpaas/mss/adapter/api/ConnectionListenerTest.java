// JUnit: connection listeners get Connecting/Connected/Disconnected/ConnectFailed in order; remove, duplicates and a throwing listener.
// SPDX-License-Identifier: Apache-2.0
package com.mpaas.mss.adapter.api;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import com.alipay.mobile.rome.longlinkservice.ConnectionListener;
import com.mpaas.mobile.rome.longlinkservice.ConnectionEvent;
import com.mpaas.mobile.rome.longlinkservice.ConnectionEvent.Type;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.Test;

public class ConnectionListenerTest extends SyncTestBase {
    static class Events implements ConnectionListener {
        final BlockingQueue<ConnectionEvent> got = new LinkedBlockingQueue<>();
        volatile boolean connectedDuringCallback;

        @Override
        public void onConnectionStateChanged(ConnectionEvent event) {
            if (event.getEventType() == Type.Connected) {
                connectedDuringCallback = MPSync.isConnected();
            }
            got.add(event);
        }

        ConnectionEvent next() throws InterruptedException {
            ConnectionEvent e = got.poll(10, TimeUnit.SECONDS);
            assertNotNull("no connection event within 10 s", e);
            return e;
        }

        /** Skips events until one of the type arrives. */
        ConnectionEvent until(Type type) throws InterruptedException {
            for (;;) {
                ConnectionEvent e = next();
                if (e.getEventType() == type) {
                    return e;
                }
            }
        }
    }

    @Test
    public void foregroundAndBackgroundStates() throws Exception {
        Events ev = new Events();
        MPSync.addConnectionListener(ev);
        MPSync.addConnectionListener(ev); // twice: still one registration
        MPSync.initialize(context);
        assertFalse(MPSync.isConnected());
        MPSync.appToForeground();
        assertEquals(Type.Connecting, ev.next().getEventType());
        ConnectionEvent up = ev.next();
        assertEquals(Type.Connected, up.getEventType());
        assertTrue(up.isConnected());
        assertTrue(ev.connectedDuringCallback);
        assertTrue(MPSync.isConnected());
        MPSync.appToBackground();
        ConnectionEvent down = ev.next();
        assertEquals(Type.Disconnected, down.getEventType());
        assertFalse(down.isConnected());
        assertFalse(MPSync.isConnected());
        assertNull("each event once", ev.got.poll(200, TimeUnit.MILLISECONDS));
    }

    @Test
    public void removedListenerHearsNothing() throws Exception {
        Events kept = new Events();
        Events removed = new Events();
        MPSync.addConnectionListener(removed);
        MPSync.addConnectionListener(kept);
        MPSync.removeConnectionListener(removed);
        MPSync.initialize(context);
        MPSync.appToForeground();
        kept.until(Type.Connected);
        assertNull(removed.got.poll(100, TimeUnit.MILLISECONDS));
    }

    @Test
    public void serverLossGivesDisconnectedThenConnectFailed() throws Exception {
        Events ev = new Events();
        MPSync.addConnectionListener(ev);
        MPSync.initialize(context);
        MPSync.appToForeground();
        ev.until(Type.Connected);
        server.close();
        ev.until(Type.Disconnected);
        ConnectionEvent failed = ev.until(Type.ConnectFailed); // first retry within 1 s (C11)
        assertFalse(failed.isConnected());
        assertFalse(failed.getReason().isEmpty());
        assertFalse(MPSync.isConnected());
    }

    @Test
    public void throwingListenerDoesNotStopOthers() throws Exception {
        ConnectionListener bad = new ConnectionListener() {
            @Override
            public void onConnectionStateChanged(ConnectionEvent event) {
                throw new IllegalStateException("listener failure (thrown on purpose by the test)");
            }
        };
        Events ev = new Events();
        MPSync.addConnectionListener(bad);
        MPSync.addConnectionListener(ev);
        MPSync.initialize(context);
        MPSync.appToForeground();
        assertEquals(Type.Connecting, ev.next().getEventType());
        assertEquals(Type.Connected, ev.next().getEventType());
        MPSync.appToBackground();
        assertEquals(Type.Disconnected, ev.next().getEventType());
    }
}
