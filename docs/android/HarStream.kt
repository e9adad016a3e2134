import android.hardware.Sensor
import android.hardware.SensorEvent
import android.hardware.SensorEventListener
import android.hardware.SensorManager
import org.json.JSONObject
import org.tensorflow.lite.Interpreter
import java.nio.ByteBuffer

/** model_stream.tflite on the phone's sensors: onProbs gets each window's probabilities (the
 *  manifest's label order) every hop samples; sizes and names are read from manifest.json. */
class HarStream(model: ByteBuffer, json: String, private val onProbs: (FloatArray) -> Unit)
        : SensorEventListener {
    private val info = JSONObject(json).getJSONObject("files")
            .getJSONObject("model_stream.tflite").getJSONObject("stream")
    private val interpreter = Interpreter(model, Interpreter.Options().setNumThreads(1))
    private val samples = Array(1) { Array(info.getInt("hop")) { FloatArray(6) } }
    private val state = Array(1) { FloatArray(info.getInt("state_size")) }   // fresh: all zero
    private val kept = info.optJSONArray("orientation_slice")?.run { getInt(0) until getInt(1) }
    private val probs = Array(1) { FloatArray(JSONObject(json).getJSONArray("labels").length()) }
    private val ready = FloatArray(1)
    private val inputs = mapOf("samples" to samples, "state" to state)
    private val outputs = mapOf("probs" to probs, "ready" to ready, "state" to state)
    private val resampler = Resampler { v, newSegment -> add(v, newSegment) }
    private var n = 0
    fun start(sensors: SensorManager) = listOf(Sensor.TYPE_ACCELEROMETER, Sensor.TYPE_GYROSCOPE)
            .forEach { sensors.registerListener(this, sensors.getDefaultSensor(it), 20_000) }
    override fun onSensorChanged(event: SensorEvent) {
        val acc = event.sensor.type == Sensor.TYPE_ACCELEROMETER   // m/s2, gravity included -> g
        val v = DoubleArray(3) { event.values[it] / if (acc) 9.80665 else 1.0 }
        resampler.push(if (acc) 0 else 1, event.timestamp * 1e-9, v)
    }
    override fun onAccuracyChanged(sensor: Sensor, accuracy: Int) {}
    private fun add(v: DoubleArray, newSegment: Boolean) {
        if (newSegment) n = 0   // after a gap: zero the state but the orientation estimate
        if (newSegment) for (i in state[0].indices) if (kept?.contains(i) != true) state[0][i] = 0f
        for (c in 0 until 6) samples[0][n][c] = v[c].toFloat()
        if (++n < samples[0].size) return
        n = 0
        interpreter.runSignature(inputs, outputs, info.getString("signature"))
        if (ready[0] == 1f) onProbs(probs[0].copyOf())
    }
}
