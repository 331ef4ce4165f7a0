// Compile-only stub of android.content.pm.PackageInfo (test source set; never shipped): the fields MPSync reads.
// SPDX-License-Identifier: Apache-2.0
package android.content.pm;

public class PackageInfo {
    public String packageName;
    /** android:versionName of the manifest (build.gradle's versionName); may be null. */
    public String versionName;
}
