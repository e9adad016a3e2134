// A stand-in for LiteRT's org.tensorflow.lite.Interpreter with the members HarStream.kt calls,
// typed as in LiteRT's InterpreterApi.java (Interpreter(ByteBuffer, Options),
// Options.setNumThreads(int), runSignature(Map<String, Object>, Map<String, Object>, String)).
// Behind them a fake stream file whose outputs show what the host fed it: state [steps since
// the last reset, the first ax of the last step, orientation steps (kept across gaps), 0];
// probs [steps, orientation steps, first ax, last az, last gx, first gz] of the state and
// samples it was given; ready once one step was fed since the last reset.
package org.tensorflow.lite

import java.nio.ByteBuffer

@Suppress("UNCHECKED_CAST", "UNUSED_PARAMETER")
class Interpreter(model: ByteBuffer, options: Options) {
    class Options {
        fun setNumThreads(numThreads: Int): Options = this
    }

    fun runSignature(inputs: Map<String, Any>, outputs: Map<String, Any>, signatureKey: String) {
        require(signatureKey == "step") { "signature $signatureKey" }
        require(inputs.keys == setOf("samples", "state")) { "inputs ${inputs.keys}" }
        require(outputs.keys == setOf("probs", "ready", "state")) { "outputs ${outputs.keys}" }
        val x = (inputs.getValue("samples") as Array<Array<FloatArray>>)[0]
        val s = (inputs.getValue("state") as Array<FloatArray>)[0].copyOf()   // read, then written
        val probs = (outputs.getValue("probs") as Array<FloatArray>)[0]
        val ready = outputs.getValue("ready") as FloatArray
        val next = (outputs.getValue("state") as Array<FloatArray>)[0]
        require(x.all { it.size == 6 } && s.size == 4 && probs.size == 6 && ready.size == 1)
        val last = x[x.size - 1]
        floatArrayOf(s[0], s[2], x[0][0], last[2], last[3], x[0][5]).copyInto(probs)
        ready[0] = if (s[0] >= 1f) 1f else 0f
        floatArrayOf(s[0] + 1f, x[0][0], s[2] + 1f, 0f).copyInto(next)
    }
}
