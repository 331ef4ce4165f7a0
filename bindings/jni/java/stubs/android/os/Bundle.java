// Compile-only stub of android.os.Bundle (test source set; never shipped).
package android.os;

public final class Bundle {
}
