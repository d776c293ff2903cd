// Android project for Outreach. Built with Android Studio / Gradle on a
// machine with the Android SDK and NDK (see README "Building the apps").
// On the CI machines there is no Gradle or Android SDK: the `outreach`
// module's sources are compiled and tested there with kotlinc directly
// (scripts/android-test.sh).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "outreach-android"
include(":outreach")
