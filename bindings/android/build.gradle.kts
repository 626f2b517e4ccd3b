// Packages the generated Kotlin bindings, a Flow adapter and libfrontdesk_uniffi.so for each ABI
// (built into src/main/jniLibs by build-jnilibs.sh) as an AAR: `./gradlew assembleRelease`.
plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.0"
}

android {
    namespace = "dev.frontdesk"
    compileSdk = 35
    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }
    sourceSets["main"].java.srcDirs("../kotlin/generated", "src/main/kotlin")
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin { jvmToolchain(17) }

dependencies {
    // The generated bindings call the library through JNA; the AAR flavour carries its native parts.
    implementation("net.java.dev.jna:jna:5.15.0@aar")
    api("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.9.0")
    // The Kotlin half of rustls-platform-verifier (Android's trust manager, see FrontdeskTls.kt); its
    // version must equal that of the rustls-platform-verifier-android crate in Cargo.lock.
    implementation("org.rustls:rustls-platform-verifier:0.2.0")
}

// The Rust library is built before the Java parts, so an AAR never ships without it.
val cargoNdk by tasks.registering(Exec::class) {
    commandLine("bash", "build-jnilibs.sh")
}
tasks.named("preBuild") { dependsOn(cargoNdk) }
