// Drives docs/android/*.kt on a JVM for tests/test_android_doc.py. stdin: a mode line, then rows.
//   resample: "sensor t x y z" rows -> "newSegment v0 .. v5" per grid sample (17 digits)
//   loop: a manifest line (JSON), then "sensorType timestampNs x y z" events -> "p0 .. p5" per
//         window that onProbs receives, through HarStream and the stand-in Interpreter
import android.hardware.Sensor
import android.hardware.SensorEvent
import android.hardware.SensorManager
import java.nio.ByteBuffer

fun main() {
    val lines = generateSequence(::readLine).toList()
    val out = StringBuilder()
    fun fmt(x: Double) = "%.17g".format(x)
    when (lines[0]) {
        "resample" -> {
            val r = Resampler { v, newSegment ->
                out.append(if (newSegment) 1 else 0).append(' ')
                        .append(v.joinToString(" ") { fmt(it) }).append('\n')
            }
            for (line in lines.drop(1)) {
                val f = line.split(' ')
                r.push(f[0].toInt(), f[1].toDouble(), DoubleArray(3) { f[2 + it].toDouble() })
            }
        }
        "loop" -> {
            val stream = HarStream(ByteBuffer.allocateDirect(1), lines[1]) { p ->
                out.append(p.joinToString(" ") { fmt(it.toDouble()) }).append('\n')
            }
            val sensors = SensorManager()
            stream.start(sensors)
            out.append("registered ").append(sensors.registered.joinToString(" ") { "${it.first}:${it.second}" }).append('\n')
            for (line in lines.drop(2)) {
                val f = line.split(' ')
                val values = FloatArray(3) { f[2 + it].toFloat() }
                stream.onSensorChanged(SensorEvent(Sensor(f[0].toInt()), f[1].toLong(), values))
            }
        }
        else -> error("unknown mode ${lines[0]}")
    }
    print(out)
}
