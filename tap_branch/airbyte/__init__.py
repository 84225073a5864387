"""tap-branch as an Airbyte source: `tap-branch-airbyte spec | check | discover | read`.

The same `TapBranch` (streams, settings, state logic) runs underneath; this
package only translates: the settings schema into a connection specification
(`spec`), the Singer catalog into an Airbyte catalog (`catalog`), Airbyte's
per-stream state into Singer bookmarks and back (`state`), and the SDK's
messages into Airbyte messages (`messages`). `source` holds the four commands,
`cli` the entry point. Needs the `airbyte` extra (`pip install tap-branch[airbyte]`)
for the protocol models.
"""
