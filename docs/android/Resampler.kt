import kotlin.math.ceil

/** Sensor 0 (accelerometer, g) and 1 (gyroscope, rad/s) -> ax ay az gx gy gz on t0 + k / rate,
 *  as edgehar's GridAligner; newSegment marks the first sample after a gap longer than maxGap. */
class Resampler(rate: Double = 50.0, private val maxGap: Double = 1.0,
                private val emit: (values: DoubleArray, newSegment: Boolean) -> Unit) {
    private class Row(val t: Double, val v: DoubleArray)
    private val step = 1.0 / rate
    private val rows = listOf(ArrayList<Row>(), ArrayList<Row>())
    private var t0 = Double.NaN   // the later sensor's first row
    private var k = 0L            // the next grid index
    private var emitted = -2L     // the last grid index emitted
    fun push(sensor: Int, t: Double, v: DoubleArray) {
        val last = rows[sensor].lastOrNull()?.t ?: Double.NEGATIVE_INFINITY
        if (t <= last) return   // a repeated time: merged into the row before
        // no grid point inside a gap (before t0 is known, NaN: k stays 0)
        if (t - last > maxGap) k = maxOf(k, ceil((t - t0) / step - 1e-9).toLong())
        rows[sensor].add(Row(t, v))
        if (rows.any { it.isEmpty() }) return
        if (t0.isNaN()) t0 = maxOf(rows[0][0].t, rows[1][0].t)
        while ((minOf(rows[0].last().t, rows[1].last().t) - t0) / step + 1e-9 >= k) {
            emit(at(rows[0], t0 + k * step) + at(rows[1], t0 + k * step), k != emitted + 1)
            emitted = k++
        }
    }
    // linear between the last row at or before g (1 us early counts as on it) and the next
    private fun at(r: ArrayList<Row>, g: Double): DoubleArray {
        while (r.size > 2 && r[1].t <= g + 1e-6) r.removeAt(0)
        val (a, b) = r[0] to r.getOrElse(1) { r[0] }
        val w = if (r.size < 2) 0.0 else (g - a.t) / (b.t - a.t)
        return DoubleArray(a.v.size) { (b.v[it] - a.v[it]) * w + a.v[it] }
    }
}
