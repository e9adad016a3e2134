// A stand-in for Android's org.json (JSONObject, JSONArray: the getters HarStream.kt uses) over
// a small JSON reader: objects, arrays, strings without escapes, numbers, true/false/null.
package org.json

@Suppress("UNCHECKED_CAST")
class JSONObject internal constructor(private val map: Map<String, Any?>) {
    constructor(json: String) : this(Reader(json).value() as Map<String, Any?>)
    fun getJSONObject(name: String) = JSONObject(map.getValue(name) as Map<String, Any?>)
    fun getJSONArray(name: String) = JSONArray(map.getValue(name) as List<Any?>)
    fun optJSONArray(name: String) = (map[name] as List<Any?>?)?.let { JSONArray(it) }
    fun getString(name: String) = map.getValue(name) as String
    fun getInt(name: String) = (map.getValue(name) as Double).toInt()
}

class JSONArray internal constructor(private val list: List<Any?>) {
    fun length() = list.size
    fun getInt(index: Int) = (list[index] as Double).toInt()
}

private class Reader(private val s: String) {
    private var i = 0
    private fun skip() { while (i < s.length && s[i].isWhitespace()) i++ }
    private fun expect(c: Char) { skip(); require(s[i++] == c) { "expected $c at ${i - 1}" } }
    fun value(): Any? {
        skip()
        return when (s[i]) {
            '{' -> { i++; val m = LinkedHashMap<String, Any?>(); skip()
                if (s[i] == '}') { i++; return m }
                do { val k = value() as String; expect(':'); m[k] = value(); skip() } while (s[i++] == ',')
                m }
            '[' -> { i++; val l = ArrayList<Any?>(); skip()
                if (s[i] == ']') { i++; return l }
                do { l.add(value()); skip() } while (s[i++] == ',')
                l }
            '"' -> { val end = s.indexOf('"', i + 1); val r = s.substring(i + 1, end); i = end + 1; r }
            else -> { val start = i; while (i < s.length && s[i] !in ",]} \n\r\t") i++
                when (val w = s.substring(start, i)) { "null" -> null; "true" -> true; "false" -> false
                    else -> w.toDouble() } }
        }
    }
}
