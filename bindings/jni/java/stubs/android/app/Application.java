// Compile-only stub of android.app.Application (test source set; never shipped).
// SPDX-License-Identifier: Apache-2.0
package android.app;

import android.content.ContextWrapper;

public class Application extends ContextWrapper {
    public Application() {
        super(null);
    }

    public void onCreate() {
    }
}
