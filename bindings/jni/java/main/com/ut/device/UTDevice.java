// The vendor's device-id accessor (used by the seed's Android sample), answering libmpsync's device id.
// SPDX-License-Identifier: Apache-2.0
package com.ut.device;

import android.content.Context;
import com.mpaas.mss.adapter.api.MPSync;

/**
 * {@code UTDevice.getUtdid(context)} as in the seed sample: the device id that device-dimension
 * pushes address (the server's linkToken). It is the id libmpsync generated once for this install
 * and persisted in its cache (C17), so it lives in the SDK and not in a separate library.
 */
public class UTDevice {
    private UTDevice() {
    }

    /**
     * The device id, or null when the SDK cannot start. The seed sample calls this before
     * {@code MPSync.initialize}, and the id is stored in the SDK's cache, so it initializes the SDK
     * (a no-op when already done).
     */
    public static String getUtdid(Context context) {
        MPSync.initialize(context); // also loads the native library (MPSync's static initializer)
        return nativeDeviceId();
    }

    private static native String nativeDeviceId();
}
