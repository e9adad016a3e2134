// Stand-ins for the Android SDK classes docs/android/HarStream.kt uses, with the same names,
// constants and call shapes (android.hardware.*): enough to compile and drive the loop on a JVM.
package android.hardware

class Sensor(val type: Int) {
    companion object {
        const val TYPE_ACCELEROMETER = 1   // the SDK's values
        const val TYPE_GYROSCOPE = 4
    }
}

class SensorEvent(@JvmField val sensor: Sensor, @JvmField val timestamp: Long,
                  @JvmField val values: FloatArray)

interface SensorEventListener {
    fun onSensorChanged(event: SensorEvent)
    fun onAccuracyChanged(sensor: Sensor, accuracy: Int)
}

@Suppress("UNUSED_PARAMETER")
class SensorManager {
    val registered = ArrayList<Pair<Int, Int>>()   // (sensor type, sampling period in us)
    fun getDefaultSensor(type: Int): Sensor = Sensor(type)
    fun registerListener(listener: SensorEventListener, sensor: Sensor, samplingPeriodUs: Int): Boolean {
        registered.add(sensor.type to samplingPeriodUs)
        return true
    }
}
