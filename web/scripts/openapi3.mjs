// Swagger 2.0 (what protoc-gen-openapiv2 writes to gen/openapi/) to OpenAPI 3.0,
// for openapi-typescript 7 (which reads 3.x only). Only the subset the
// generator emits is converted: definitions, body/path/query parameters, JSON
// responses. Anything else fails loudly, so a new construct in the contracts
// is noticed here rather than typed wrongly.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

const [source, target] = process.argv.slice(2);
if (!source || !target) {
  console.error("usage: node scripts/openapi3.mjs SWAGGER2.json OPENAPI3.json");
  process.exit(2);
}
const swagger = JSON.parse(readFileSync(source, "utf8"));
if (swagger.swagger !== "2.0") throw new Error(`${source}: not Swagger 2.0`);

const refs = (value) =>
  JSON.parse(
    JSON.stringify(value).replaceAll('"#/definitions/', '"#/components/schemas/'),
  );

const paths = {};
for (const [path, operations] of Object.entries(swagger.paths)) {
  paths[path] = {};
  for (const [method, operation] of Object.entries(operations)) {
    const { parameters = [], responses, consumes, produces, ...rest } = operation;
    const converted = { ...rest, parameters: [], responses: {} };
    for (const parameter of parameters) {
      if (parameter.in === "body") {
        converted.requestBody = {
          required: Boolean(parameter.required),
          content: { "application/json": { schema: refs(parameter.schema) } },
        };
      } else if (parameter.in === "path" || parameter.in === "query") {
        const { name, in: where, required, description, ...schema } = parameter;
        if (schema.collectionFormat && schema.collectionFormat !== "multi") {
          throw new Error(`${method} ${path}: collectionFormat ${schema.collectionFormat}`);
        }
        delete schema.collectionFormat;
        converted.parameters.push({
          name,
          in: where,
          required: Boolean(required),
          description,
          schema: refs(schema),
        });
      } else {
        throw new Error(`${method} ${path}: parameter in ${parameter.in}`);
      }
    }
    for (const [status, response] of Object.entries(responses)) {
      converted.responses[status] = {
        description: response.description ?? "",
        ...(response.schema
          ? { content: { "application/json": { schema: refs(response.schema) } } }
          : {}),
      };
    }
    paths[path][method] = converted;
  }
}

const openapi = {
  openapi: "3.0.3",
  info: swagger.info,
  tags: swagger.tags,
  paths,
  components: { schemas: refs(swagger.definitions) },
};
mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, JSON.stringify(openapi, null, 2) + "\n");
