// The Android library module of frontdesk, on its own or included in an app's build
// (`includeBuild("path/to/frontdesk/bindings/android")`). Needs the Android SDK and NDK; not built on
// the Linux machines the project is tested on (Maven Central and the SDK are out of their reach).
pluginManagement {
    repositories { google(); mavenCentral(); gradlePluginPortal() }
}
dependencyResolutionManagement {
    repositories {
        google(); mavenCentral()
        // rustls-platform-verifier's Kotlin component is published there, not on Maven Central.
        maven {
            url = uri("https://github.com/rustls/rustls-platform-verifier/raw/maven-archive/android-release-support/maven/")
            content { includeGroup("org.rustls") }
        }
    }
}
rootProject.name = "frontdesk-android"
