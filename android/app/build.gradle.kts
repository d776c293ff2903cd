// The Android application: Jetpack Compose screens over the state holders of
// the `outreach` module. Needs the Android SDK; the native libraries come
// from scripts/build-android.sh (cargo-ndk) into build/android/jniLibs.
plugins {
    id("com.android.application") version "8.7.3"
    kotlin("android") version "2.4.20"
    id("org.jetbrains.kotlin.plugin.compose") version "2.4.20"
}

android {
    namespace = "outreach.app"
    compileSdk = 35
    defaultConfig {
        applicationId = "uk.gov.council.outreach"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
    }
    buildFeatures { compose = true }
    sourceSets["main"].jniLibs.srcDir("../../build/android/jniLibs")
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin { jvmToolchain(17) }

dependencies {
    implementation(project(":outreach"))
    implementation("net.java.dev.jna:jna:5.13.0@aar")
    implementation(platform("androidx.compose:compose-bom:2024.12.01"))
    implementation("androidx.compose.material3:material3")
    implementation("androidx.compose.ui:ui")
    implementation("androidx.activity:activity-compose:1.9.3")
    implementation("androidx.lifecycle:lifecycle-process:2.8.7")
    implementation("androidx.lifecycle:lifecycle-viewmodel-compose:2.8.7")
    implementation("androidx.navigation:navigation-compose:2.8.5")
    implementation("androidx.work:work-runtime-ktx:2.10.0")
    implementation("androidx.biometric:biometric:1.1.0")
    implementation("androidx.fragment:fragment-ktx:1.8.5")
}
