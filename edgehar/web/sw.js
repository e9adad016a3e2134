// Offline once loaded: the page's files, LiteRT.js, the model and the sample are cached when the
// page first registers this worker; online, the server's answer wins (and refreshes the cache),
// offline the cached copy answers.
const CACHE = 'edgehar-web-v1';
const FILES = ['./', './index.html', './app.js', './csvlog.js', './units.js', './resample.js',
  './stream.js', './timeline.js', './model/bundle.json', './model/model_stream.tflite',
  './sample.csv', './litertjs/core/dist/index.js', './litertjs/wasm-utils/dist/index.js',
  './litertjs/core/wasm/litert_wasm_internal.js', './litertjs/core/wasm/litert_wasm_internal.wasm',
  './litertjs/core/wasm/litert_wasm_compat_internal.js',
  './litertjs/core/wasm/litert_wasm_compat_internal.wasm'];

self.addEventListener('install', e => {
  e.waitUntil(caches.open(CACHE).then(c => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', e => e.waitUntil(self.clients.claim()));

self.addEventListener('fetch', e => {
  if (e.request.method !== 'GET') return;
  e.respondWith(fetch(e.request).then(response => {
    if (response.ok) {
      const copy = response.clone();
      caches.open(CACHE).then(c => c.put(e.request, copy));
    }
    return response;
  }).catch(() => caches.match(e.request, {ignoreSearch: true})));
});
