// Compile-only stub of android.view.View (test source set; never shipped), for the sample's button handler.
package android.view;

public class View {
}
