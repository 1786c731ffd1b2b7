"use strict";
// TRASER's validator for the Gateway emulator: Ajv 8 + ajv-formats with TRASER's options, one long-lived process
// per emulator, JSON lines over stdin/stdout (one request per line, one answer per line, in order).
//
// Source (shared/notes/hdruk-gateway.md §(c), §(h)): HDRUK/traser d84e60a (v1.6.1), src/middleware/schemaHandler.js
// builds `new Ajv({strict: false, allErrors: false, coerceTypes: true, useDefaults: true})` plus `addFormats(ajv)`,
// adds every schema of available.json under the key "<name>:<version>" (`ajv.addSchema(schema, key)`) and validates
// with `ajv.getSchema(key)(metadata)`; Ajv's default class (draft-07) is used for every file of the pack.
//
// Usage: node worker.js <schema pack directory>   (the directory holding available.json and <name>/<version>/schema.json)
// First line written: {"ready": true, "refs": [[name, version], ...]} (available.json order), or {"fatal": "..."}.
// Requests:  {"op": "validate", "name": N, "version": V, "document": D, "deadline_ms": T}
//            {"op": "find", "document": D, "deadline_ms": T}
// Answers:   validate -> {"valid": bool, "errors": [ajv errors] | null, "document": D as Ajv left it, "hang": bool}
//            find     -> {"match": [name, version] | null, "hang": [name, version] | null}
//            anything that fails -> {"error": "..."}

const fs = require("fs");
const path = require("path");
const readline = require("readline");
const vm = require("vm");

let Ajv;
let addFormats;
try {
    Ajv = require("ajv").default;
    addFormats = require("ajv-formats").default;
} catch (error) {
    process.stdout.write(JSON.stringify({ fatal: `npm packages missing (${error.code || error.message})` }) + "\n");
    process.exit(3);
}

// TRASER's options (schemaHandler.js); the file also spells out strictSchema/strictTypes false, which strict: false
// already implies.
const ajv = new Ajv({ strict: false, allErrors: false, coerceTypes: true, useDefaults: true });
addFormats(ajv); // TRASER: "needed to remove warnings about dates and date-times"

function loadPack(directory) {
    const available = JSON.parse(fs.readFileSync(path.join(directory, "available.json"), "utf8"));
    const refs = [];
    for (const [name, versions] of Object.entries(available)) {
        for (const version of versions) {
            const file = path.join(directory, name, version, "schema.json");
            const key = `${name}:${version}`;
            ajv.removeSchema(key);
            ajv.addSchema(JSON.parse(fs.readFileSync(file, "utf8")), key);
            refs.push([name, version]);
        }
    }
    return refs;
}

// A validation is run under a vm timeout so that a catastrophic pattern (HDRUK 3.0.0 `UrlV2` on `https://<uuid>`,
// notes §(e), §(h): TRASER's single thread is blocked for 160-328 s) is stopped and reported as a hang instead of
// blocking the emulator for minutes. TRASER itself has no such limit; the Gateway gives up on it after 30 s.
const sandbox = vm.createContext({ run: null });

function bounded(fn, deadlineMs) {
    sandbox.run = fn;
    try {
        return { value: vm.runInContext("run()", sandbox, { timeout: Math.max(1, deadlineMs) }), hang: false };
    } catch (error) {
        if (error && error.code === "ERR_SCRIPT_EXECUTION_TIMEOUT") {
            return { value: undefined, hang: true };
        }
        throw error;
    } finally {
        sandbox.run = null;
    }
}

function validate(name, version, document, deadlineMs) {
    const validator = ajv.getSchema(`${name}:${version}`);
    if (validator == null) {
        // TRASER's validateMetadata answers this message when the key is unknown.
        return { error: `Schema for model=${name} version=${version} is not known!` };
    }
    const outcome = bounded(() => validator(document), deadlineMs);
    if (outcome.hang) {
        return { valid: false, errors: null, document, hang: true };
    }
    if (outcome.value === true) {
        return { valid: true, errors: null, document: null, hang: false }; // only a rejection shows the document
    }
    return { valid: false, errors: validator.errors || null, document, hang: false };
}

function find(refs, document, deadlineMs) {
    // TRASER's findModelAndVersion/findMatchingSchemas: every schema of available.json in file order, the first
    // match wins (select_first_matching, notes §(c)). Each schema sees its own copy of the document, as the
    // recorded verdicts were taken; whether d84e60a still shares nested objects between schemas (the shallow
    // `{...metadata}` of older schemaHandler.js, GAT-7091/8013/8077 in notes §(g)) is not known here.
    // Every schema is tried, so a hang on any of them hangs the whole detection.
    let match = null;
    for (const [name, version] of refs) {
        const answer = validate(name, version, structuredClone(document), deadlineMs);
        if (answer.hang) {
            return { match: null, hang: [name, version] };
        }
        if (answer.valid && match === null) {
            match = [name, version];
        }
    }
    return { match, hang: null };
}

function answer(refs, request) {
    const deadline = Number(request.deadline_ms) || 5000;
    if (request.op === "validate") {
        return validate(request.name, request.version, request.document, deadline);
    }
    if (request.op === "find") {
        return find(refs, request.document, deadline);
    }
    return { error: `unknown op ${JSON.stringify(request.op)}` };
}

function main() {
    let refs;
    try {
        refs = loadPack(process.argv[2] || ".");
        for (const [name, version] of refs) {
            ajv.getSchema(`${name}:${version}`); // compile now, so that a broken pack fails at start
        }
    } catch (error) {
        process.stdout.write(JSON.stringify({ fatal: `schema pack: ${error.message}` }) + "\n");
        process.exit(4);
    }
    process.stdout.write(JSON.stringify({ ready: true, refs }) + "\n");
    const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    lines.on("line", (line) => {
        let reply;
        try {
            reply = answer(refs, JSON.parse(line));
        } catch (error) {
            reply = { error: String((error && error.message) || error) };
        }
        process.stdout.write(JSON.stringify(reply) + "\n");
    });
    lines.on("close", () => process.exit(0));
}

main();
