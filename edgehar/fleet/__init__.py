"""Fleet replay: many logs through one bundle, batched and in parallel (a local process pool,
or Ray), each log's predictions in its own JSON Lines file and one ``fleet.json`` summary.

Uses the runtime; Ray and pyarrow come with the ``fleet`` extra and are imported only when
asked for."""
