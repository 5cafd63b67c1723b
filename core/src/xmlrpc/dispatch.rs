//! The dispatcher: registered methods with help texts and signatures, the
//! introspection methods, and `system.multicall`.

use std::collections::BTreeMap;

use super::{
    decode_call, encode_response, MethodCall, RpcFault, Value, INTERNAL_ERROR, INVALID_PARAMS,
    METHOD_NOT_FOUND,
};

/// A method's implementation: parameters in, a value or a fault out.
pub type MethodFn = Box<dyn Fn(&[Value]) -> Result<Value, RpcFault> + Send>;

struct Method {
    help: String,
    signatures: Vec<Vec<String>>,
    call: MethodFn,
}

/// Methods by name, plus `system.listMethods`, `system.methodHelp`,
/// `system.methodSignature` and `system.multicall`, as Python's
/// `SimpleXMLRPCServer` offers them once introspection and multicall are
/// registered.
#[derive(Default)]
pub struct Dispatcher {
    methods: BTreeMap<String, Method>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.methods.keys()).finish()
    }
}

const SYSTEM: [&str; 4] = [
    "system.listMethods",
    "system.methodHelp",
    "system.methodSignature",
    "system.multicall",
];

fn params_fault(method: &str, expects: &str) -> RpcFault {
    RpcFault::new(INVALID_PARAMS, format!("{method} expects {expects}"))
}

impl Dispatcher {
    /// A dispatcher with only the `system.*` methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `name`. `signatures` lists return type then parameter
    /// types, as `system.methodSignature` reports them.
    pub fn register(
        &mut self,
        name: &str,
        help: &str,
        signatures: &[&[&str]],
        call: impl Fn(&[Value]) -> Result<Value, RpcFault> + Send + 'static,
    ) {
        self.methods.insert(
            name.to_owned(),
            Method {
                help: help.to_owned(),
                signatures: signatures
                    .iter()
                    .map(|s| s.iter().map(|t| (*t).to_owned()).collect())
                    .collect(),
                call: Box::new(call),
            },
        );
    }

    /// Every method name, `system.*` included, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.methods.keys().cloned().collect();
        names.extend(SYSTEM.iter().map(|s| (*s).to_owned()));
        names.sort();
        names
    }

    /// Calls one method.
    pub fn dispatch(&self, call: &MethodCall) -> Result<Value, RpcFault> {
        self.call(&call.name, &call.params, true)
    }

    fn call(&self, name: &str, params: &[Value], top: bool) -> Result<Value, RpcFault> {
        match name {
            "system.listMethods" => Ok(Value::Array(
                self.names().into_iter().map(Value::String).collect(),
            )),
            "system.methodHelp" => {
                let target = one_string(name, params)?;
                Ok(Value::String(self.help(target)?))
            }
            "system.methodSignature" => {
                let target = one_string(name, params)?;
                self.signature(target)
            }
            "system.multicall" if !top => Err(RpcFault::new(
                INVALID_PARAMS,
                "system.multicall cannot be called inside system.multicall",
            )),
            "system.multicall" => self.multicall(params),
            _ => {
                let m = self.methods.get(name).ok_or_else(|| {
                    RpcFault::new(
                        METHOD_NOT_FOUND,
                        format!("method \"{name}\" is not supported"),
                    )
                })?;
                (m.call)(params)
            }
        }
    }

    fn help(&self, target: &str) -> Result<String, RpcFault> {
        if let Some(m) = self.methods.get(target) {
            return Ok(m.help.clone());
        }
        Ok(match target {
            "system.listMethods" => "Returns the names of every method.",
            "system.methodHelp" => "Returns the help text of the named method.",
            "system.methodSignature" => "Returns the signatures of the named method.",
            "system.multicall" => {
                "Calls many methods in one request; returns [result] or a fault struct for each."
            }
            _ => {
                return Err(RpcFault::new(
                    METHOD_NOT_FOUND,
                    format!("method \"{target}\" is not supported"),
                ))
            }
        }
        .to_owned())
    }

    fn signature(&self, target: &str) -> Result<Value, RpcFault> {
        let sigs: Vec<Vec<String>> = if let Some(m) = self.methods.get(target) {
            m.signatures.clone()
        } else {
            let s = |v: &[&str]| v.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
            match target {
                "system.listMethods" => vec![s(&["array"])],
                "system.methodHelp" => vec![s(&["string", "string"])],
                "system.methodSignature" => vec![s(&["array", "string"])],
                "system.multicall" => vec![s(&["array", "array"])],
                _ => {
                    return Err(RpcFault::new(
                        METHOD_NOT_FOUND,
                        format!("method \"{target}\" is not supported"),
                    ))
                }
            }
        };
        Ok(Value::Array(
            sigs.into_iter()
                .map(|sig| Value::Array(sig.into_iter().map(Value::String).collect()))
                .collect(),
        ))
    }

    fn multicall(&self, params: &[Value]) -> Result<Value, RpcFault> {
        let [Value::Array(calls)] = params else {
            return Err(params_fault(
                "system.multicall",
                "one array of {methodName, params} structs",
            ));
        };
        let results = calls
            .iter()
            .map(|call| {
                let name = match call.member("methodName") {
                    Some(Value::String(n)) => n,
                    _ => {
                        return RpcFault::new(INVALID_PARAMS, "each call needs a string methodName")
                            .to_value()
                    }
                };
                let params = match call.member("params") {
                    Some(Value::Array(p)) => p.as_slice(),
                    None => &[],
                    Some(_) => {
                        return RpcFault::new(INVALID_PARAMS, "params must be an array").to_value()
                    }
                };
                match self.call(name, params, false) {
                    Ok(v) => Value::Array(vec![v]),
                    Err(f) => f.to_value(),
                }
            })
            .collect();
        Ok(Value::Array(results))
    }

    /// A whole request body in, a whole response body out: a body that
    /// does not decode becomes a fault with the matching code.
    pub fn handle_body(&self, body: &[u8]) -> Vec<u8> {
        let result = decode_call(body)
            .map_err(|e| RpcFault::new(e.fault_code(), e.to_string()))
            .and_then(|call| self.dispatch(&call));
        encode_response(&result)
            .or_else(|e| encode_response(&Err(RpcFault::new(INTERNAL_ERROR, e.to_string()))))
            .unwrap_or_default()
            .into_bytes()
    }
}

fn one_string<'a>(method: &str, params: &'a [Value]) -> Result<&'a str, RpcFault> {
    match params {
        [Value::String(s)] => Ok(s),
        _ => Err(params_fault(method, "one string (a method name)")),
    }
}
