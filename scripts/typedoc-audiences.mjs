// @ts-check
/**
 * A typedoc plugin that files the package's exports under two audiences by where they are
 * declared: the storage contract, the search semantics and encodings an adapter computes or
 * translates, the jobs runtime and the conformance kit are for adapter authors; everything else
 * (the engine, its options and results, the mount helpers, the adapters) is for application
 * authors (typedoc.json's `defaultCategory`). Declared by folder, so that no source file carries
 * documentation-only tags.
 */
import { Comment, CommentTag, Converter, ReflectionKind } from 'typedoc';

const ADAPTER_AUTHORS = [
  /\/src\/storage\//,
  /\/src\/search\/(match|ranges|sort|position|normalize|registry|extract)\.ts$/,
  /\/src\/jobs\//,
  /\/src\/adapter-kit\.ts$/,
  /\/src\/testing\//,
];

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(
    Converter.EVENT_RESOLVE_BEGIN,
    (context) => {
      for (const reflection of context.project.getReflectionsByKind(ReflectionKind.SomeExport)) {
        if (!reflection.parent?.kindOf(ReflectionKind.SomeModule | ReflectionKind.Project)) continue;
        const file = reflection.sources?.[0]?.fullFileName ?? '';
        if (!ADAPTER_AUTHORS.some((pattern) => pattern.test(file))) continue;
        reflection.comment ??= new Comment();
        if (reflection.comment.getTag('@category')) continue;
        reflection.comment.blockTags.push(new CommentTag('@category', [{ kind: 'text', text: 'Adapter authors' }]));
      }
    },
    // Before the category plugin reads the tags.
    200,
  );
}
