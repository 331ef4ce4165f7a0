// Compile-only stub of android.app.Activity (test source set; never shipped), so the seed's sample compiles.
// SPDX-License-Identifier: Apache-2.0
package android.app;

import android.content.ContextWrapper;
import android.os.Bundle;

public class Activity extends ContextWrapper {
    public Activity() {
        super(null);
    }

    protected void onCreate(Bundle savedInstanceState) {
    }

    protected void onResume() {
    }

    protected void onStop() {
    }
}
