// The Android library module of frontdesk, on its own or included in an app's build
// (`includeBuild("path/to/frontdesk/bindings/android")`). Needs the Android SDK and NDK; not built on
// the Linux machines the project is tested on (Maven Central and the SDK are out of their reach).
pluginManagement {
    repositories { google(); mavenCentral(); gradlePluginPortal() }
}
dependencyResolutionManagement {
    repositories { google(); mavenCentral() }
}
rootProject.name = "frontdesk-android"
