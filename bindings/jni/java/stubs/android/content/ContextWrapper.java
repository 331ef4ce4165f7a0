// Compile-only stub of android.content.ContextWrapper (test source set; never shipped): delegates to a base Context.
// SPDX-License-Identifier: Apache-2.0
package android.content;

import android.content.pm.PackageManager;
import android.content.res.AssetManager;
import java.io.File;

public class ContextWrapper extends Context {
    private Context base;

    public ContextWrapper(Context base) {
        this.base = base;
    }

    /** Android calls this when it creates an Application or Activity; desktop tests call it themselves. */
    protected void attachBaseContext(Context base) {
        this.base = base;
    }

    public Context getBaseContext() {
        return base;
    }

    @Override
    public File getFilesDir() {
        return base.getFilesDir();
    }

    @Override
    public AssetManager getAssets() {
        return base.getAssets();
    }

    @Override
    public Context getApplicationContext() {
        return base.getApplicationContext();
    }

    @Override
    public PackageManager getPackageManager() {
        return base.getPackageManager();
    }

    @Override
    public String getPackageName() {
        return base.getPackageName();
    }
}
