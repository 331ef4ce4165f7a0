// Compile-only stub of android.content.Context (test source set; never shipped): only what MPSync and tests use.
// SPDX-License-Identifier: Apache-2.0
package android.content;

import android.content.pm.PackageManager;
import android.content.res.AssetManager;
import java.io.File;

/** Same signatures as the Android class, so code compiled against it links on a device. */
public abstract class Context {
    public abstract File getFilesDir();

    public abstract AssetManager getAssets();

    public abstract Context getApplicationContext();

    public abstract PackageManager getPackageManager();

    public abstract String getPackageName();
}
