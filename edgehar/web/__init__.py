"""``edgehar web``: the page that runs a bundle's ``model_stream.tflite`` in the browser with
LiteRT.js (its HTML and JavaScript live here), the server that serves it (``server``), where
LiteRT.js comes from (``litertjs``), and a DevTools-protocol driver of headless Chromium for
its tests, benchmark and screenshot (``headless``). Imports only the runtime; the CLI imports
it inside its ``web`` command."""
