//! `system.multicall` from the client's side: many calls in one request
//! (the params a client sends) and the answer read back, one result or
//! fault per call. The server's side is in the dispatcher.

use super::{RpcFault, Value, XmlRpcError};

/// The params of a `system.multicall` for `calls`: one array of
/// `{methodName, params}` structs.
pub fn encode_multicall(calls: &[(&str, Vec<Value>)]) -> Vec<Value> {
    let entries = calls
        .iter()
        .map(|(method, params)| {
            Value::Struct(vec![
                ("methodName".into(), Value::String((*method).to_owned())),
                ("params".into(), Value::Array(params.clone())),
            ])
        })
        .collect();
    vec![Value::Array(entries)]
}

/// Reads a `system.multicall` result for `calls` calls: each entry is a
/// one-value array (the result) or a fault struct. An answer of another
/// shape, or with another number of entries, is
/// [`XmlRpcError::Invalid`]: the server broke the protocol.
pub fn decode_multicall(
    result: Value,
    calls: usize,
) -> Result<Vec<Result<Value, RpcFault>>, XmlRpcError> {
    let Value::Array(entries) = result else {
        return Err(XmlRpcError::Invalid(format!(
            "system.multicall answered {}, not an array",
            result.type_name()
        )));
    };
    if entries.len() != calls {
        return Err(XmlRpcError::Invalid(format!(
            "system.multicall answered {} results for {calls} calls",
            entries.len()
        )));
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| match entry {
            Value::Array(mut one) if one.len() == 1 => Ok(Ok(one.remove(0))),
            other => RpcFault::from_value(&other).map(Err).ok_or_else(|| {
                XmlRpcError::Invalid(format!(
                    "system.multicall result {} is {}, neither [value] nor a fault struct",
                    i + 1,
                    other.type_name()
                ))
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{decode_multicall, encode_multicall};
    use crate::xmlrpc::{calculator, Dispatcher, MethodCall, RpcFault, Value, XmlRpcError};

    #[test]
    fn a_multicall_round_trips_through_the_dispatcher() {
        let dispatcher: Dispatcher = calculator();
        let calls = [
            ("add", vec![Value::Int(2), Value::Int(3)]),
            ("div", vec![Value::Int(1), Value::Int(0)]),
        ];
        let answer = dispatcher
            .dispatch(&MethodCall {
                name: "system.multicall".into(),
                params: encode_multicall(&calls),
            })
            .unwrap();
        let results = decode_multicall(answer, 2).unwrap();
        assert_eq!(results[0], Ok(Value::Int(5)));
        assert_eq!(results[1].as_ref().map_err(|f| f.code), Err(1));
    }

    #[test]
    fn answers_of_another_shape_are_the_servers_fault() {
        assert!(matches!(
            decode_multicall(Value::Int(1), 1),
            Err(XmlRpcError::Invalid(_))
        ));
        assert!(matches!(
            decode_multicall(Value::Array(vec![]), 1),
            Err(XmlRpcError::Invalid(_))
        ));
        assert!(matches!(
            decode_multicall(Value::Array(vec![Value::String("x".into())]), 1),
            Err(XmlRpcError::Invalid(_))
        ));
        let fault = RpcFault::new(7, "no").to_value();
        assert_eq!(
            decode_multicall(Value::Array(vec![fault]), 1).unwrap(),
            vec![Err(RpcFault::new(7, "no"))]
        );
    }
}
