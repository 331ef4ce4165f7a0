// Vendor connection-state listener (SPEC §5), added with MPSync.addConnectionListener.
// SPDX-License-Identifier: Apache-2.0
package com.alipay.mobile.rome.longlinkservice;

import com.mpaas.mobile.rome.longlinkservice.ConnectionEvent;

/** Observes the long-link state. Called on an SDK delivery thread, one call at a time, in the order states happen. */
public interface ConnectionListener {
    /** The state changed; {@code event.getEventType()} says to what. */
    void onConnectionStateChanged(ConnectionEvent event);
}
