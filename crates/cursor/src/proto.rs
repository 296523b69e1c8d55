//! The protobuf messages of `aiserver.v1.ChatService/StreamUnifiedChatWithTools`, written by
//! hand with `prost` derives (no `.proto` compiler at build time).
//!
//! Field numbers follow the wire facts gathered in PROVIDERS.md §4.8 (schema 1.1.3 as sent by
//! working Cursor clients). Fields whose meaning is unknown keep their number as their name.
//! Fields that working clients always send, zeros and empty strings included, are `optional`
//! so prost writes them even when they hold the default: the bytes then match what Cursor's
//! own client sends, whatever presence rules the server's schema has.
//!
//! The request types also derive serde: the hub -> Cursor translator hands the executor the
//! request as JSON (readable in tests and golden files), and the executor fills in the
//! per-request ids and environment, then encodes it.

use serde::{Deserialize, Serialize};

/// The request body: one `StreamUnifiedChatRequest`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamUnifiedChatRequestWithTools {
    #[prost(message, optional, tag = "1")]
    pub request: Option<StreamUnifiedChatRequest>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamUnifiedChatRequest {
    #[prost(message, repeated, tag = "1")]
    pub conversation: Vec<ConversationMessage>,
    /// Always 1.
    #[prost(int32, optional, tag = "2")]
    pub unknown_2: Option<i32>,
    /// The system prompt.
    #[prost(message, optional, tag = "3")]
    pub instruction: Option<Instruction>,
    /// Always 1.
    #[prost(int32, optional, tag = "4")]
    pub unknown_4: Option<i32>,
    #[prost(message, optional, tag = "5")]
    pub model: Option<ModelDetails>,
    /// Always empty.
    #[prost(string, optional, tag = "8")]
    pub web_tool: Option<String>,
    /// Always 1.
    #[prost(int32, optional, tag = "13")]
    pub unknown_13: Option<i32>,
    #[prost(message, optional, tag = "15")]
    pub cursor_setting: Option<CursorSetting>,
    /// Always 1.
    #[prost(int32, optional, tag = "19")]
    pub unknown_19: Option<i32>,
    /// A fresh UUID per request.
    #[prost(string, optional, tag = "23")]
    pub conversation_id: Option<String>,
    #[prost(message, optional, tag = "26")]
    pub metadata: Option<Metadata>,
    #[prost(bool, optional, tag = "27")]
    pub is_agentic: Option<bool>,
    /// Packed; `[1]` in agent mode.
    #[prost(int32, repeated, tag = "29")]
    pub supported_tools: Vec<i32>,
    /// One per conversation message, same ids and roles.
    #[prost(message, repeated, tag = "30")]
    pub message_ids: Vec<MessageId>,
    /// The client's tools, declared as tools of an MCP server.
    #[prost(message, repeated, tag = "34")]
    pub mcp_tools: Vec<McpTool>,
    #[prost(bool, optional, tag = "35")]
    pub large_context: Option<bool>,
    /// Always 0.
    #[prost(int32, optional, tag = "38")]
    pub unknown_38: Option<i32>,
    #[prost(enumeration = "UnifiedMode", optional, tag = "46")]
    pub unified_mode: Option<i32>,
    /// Always empty.
    #[prost(string, optional, tag = "47")]
    pub unknown_47: Option<String>,
    #[prost(bool, optional, tag = "48")]
    pub should_disable_tools: Option<bool>,
    #[prost(enumeration = "ThinkingLevel", optional, tag = "49")]
    pub thinking_level: Option<i32>,
    /// Always 0.
    #[prost(int32, optional, tag = "51")]
    pub unknown_51: Option<i32>,
    /// Always 1.
    #[prost(int32, optional, tag = "53")]
    pub unknown_53: Option<i32>,
    /// `Agent` or `Ask`, matching `unified_mode`.
    #[prost(string, optional, tag = "54")]
    pub unified_mode_name: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct ConversationMessage {
    #[prost(string, optional, tag = "1")]
    pub text: Option<String>,
    #[prost(enumeration = "Role", tag = "2")]
    pub role: i32,
    /// The message's (bubble) id, a UUID; `message_ids` repeats it.
    #[prost(string, tag = "13")]
    pub bubble_id: String,
    /// On an assistant message: the tool calls it made, each with its result.
    #[prost(message, repeated, tag = "18")]
    pub tool_results: Vec<ToolResult>,
    #[prost(bool, optional, tag = "29")]
    pub is_agentic: Option<bool>,
    #[prost(string, optional, tag = "32")]
    pub server_bubble_id: Option<String>,
    #[prost(enumeration = "UnifiedMode", optional, tag = "47")]
    pub unified_mode: Option<i32>,
    /// Packed; `[1]` on the last message in agent mode.
    #[prost(int32, repeated, tag = "51")]
    pub supported_tools: Vec<i32>,
}

/// One tool call of an earlier assistant turn and what it returned.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct ToolResult {
    #[prost(string, tag = "1")]
    pub tool_call_id: String,
    /// The tool's name as Cursor calls it (`mcp_custom_<name>`).
    #[prost(string, tag = "2")]
    pub tool_name: String,
    /// 1-based position of the call in its turn.
    #[prost(uint32, tag = "3")]
    pub tool_index: u32,
    /// The call's arguments, JSON text.
    #[prost(string, tag = "5")]
    pub raw_args: String,
    #[prost(message, optional, tag = "8")]
    pub result: Option<ClientSideToolV2Result>,
    #[prost(message, optional, tag = "11")]
    pub tool_call: Option<ClientSideToolV2Call>,
    #[prost(string, optional, tag = "12")]
    pub model_call_id: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientSideToolV2Result {
    #[prost(enumeration = "ClientSideToolV2", tag = "1")]
    pub tool: i32,
    #[prost(message, optional, tag = "28")]
    pub mcp_result: Option<McpResult>,
    #[prost(string, tag = "35")]
    pub tool_call_id: String,
    #[prost(string, optional, tag = "48")]
    pub model_call_id: Option<String>,
    #[prost(uint32, optional, tag = "49")]
    pub tool_index: Option<u32>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct McpResult {
    /// The tool's declared (unprefixed) name.
    #[prost(string, tag = "1")]
    pub selected_tool: String,
    #[prost(string, tag = "2")]
    pub result: String,
}

/// A tool call: in a request, the call a `ToolResult` answers; in a response, one fragment
/// of a call the model is making.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientSideToolV2Call {
    #[prost(enumeration = "ClientSideToolV2", tag = "1")]
    pub tool: i32,
    /// The call id; in responses it may end with `"\nmc_<model call id>"`.
    #[prost(string, tag = "3")]
    pub tool_call_id: String,
    #[prost(string, tag = "9")]
    pub name: String,
    /// Arguments (a fragment of them while streaming).
    #[prost(string, tag = "10")]
    pub raw_args: String,
    /// Set on the call's last fragment.
    #[prost(bool, tag = "11")]
    pub is_last: bool,
    /// The same flag as some server versions number it.
    #[prost(bool, tag = "15")]
    pub is_last_alt: bool,
    #[prost(message, optional, tag = "27")]
    pub mcp_params: Option<McpParams>,
    /// On a call, 48 is the index and 49 the model call id: the reverse of
    /// [`ClientSideToolV2Result`]'s numbering (a real call frame puts a varint at 48).
    #[prost(uint32, optional, tag = "48")]
    pub tool_index: Option<u32>,
    #[prost(string, optional, tag = "49")]
    pub model_call_id: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct McpParams {
    #[prost(message, repeated, tag = "1")]
    pub tools: Vec<McpTool>,
}

/// An MCP tool: declared in a request (`parameters` = JSON schema), or named in a call's
/// parameters (`parameters` = the call's arguments).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct McpTool {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, optional, tag = "2")]
    pub description: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub parameters: Option<String>,
    #[prost(string, tag = "4")]
    pub server_name: String,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Instruction {
    #[prost(string, optional, tag = "1")]
    pub instruction: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelDetails {
    #[prost(string, optional, tag = "1")]
    pub model_name: Option<String>,
    /// Always present and empty.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub empty: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct CursorSetting {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub unknown_3: Option<Vec<u8>>,
    #[prost(message, optional, tag = "6")]
    pub unknown_6: Option<CursorSettingUnknown6>,
    #[prost(int32, optional, tag = "8")]
    pub unknown_8: Option<i32>,
    #[prost(int32, optional, tag = "9")]
    pub unknown_9: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct CursorSettingUnknown6 {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub unknown_1: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub unknown_2: Option<Vec<u8>>,
}

/// Where the (nominal) client runs.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Metadata {
    #[prost(string, tag = "1")]
    pub os: String,
    #[prost(string, tag = "2")]
    pub arch: String,
    #[prost(string, tag = "3")]
    pub version: String,
    #[prost(string, tag = "4")]
    pub cwd: String,
    /// ISO 8601 with milliseconds, UTC.
    #[prost(string, tag = "5")]
    pub timestamp: String,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageId {
    #[prost(string, tag = "1")]
    pub message_id: String,
    #[prost(string, optional, tag = "2")]
    pub summary_id: Option<String>,
    #[prost(enumeration = "Role", tag = "3")]
    pub role: i32,
}

/// The body of each response frame.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamUnifiedChatResponseWithTools {
    #[prost(message, optional, tag = "1")]
    pub tool_call: Option<ClientSideToolV2Call>,
    #[prost(message, optional, tag = "2")]
    pub response: Option<StreamUnifiedChatResponse>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamUnifiedChatResponse {
    #[prost(string, tag = "1")]
    pub text: String,
    #[prost(message, optional, tag = "25")]
    pub thinking: Option<Thinking>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Thinking {
    #[prost(string, tag = "1")]
    pub text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Role {
    Unspecified = 0,
    User = 1,
    Assistant = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum UnifiedMode {
    Unspecified = 0,
    /// "Ask": answer only.
    Chat = 1,
    /// "Agent": may call tools.
    Agent = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ThinkingLevel {
    Unspecified = 0,
    Medium = 1,
    High = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ClientSideToolV2 {
    Unspecified = 0,
    Mcp = 19,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Bytes written by hand from the wire format: tag = field << 3 | wire type.
    #[test]
    fn fields_land_on_the_documented_numbers() {
        let msg = StreamUnifiedChatResponseWithTools {
            tool_call: None,
            response: Some(StreamUnifiedChatResponse {
                text: "hi".into(),
                thinking: Some(Thinking { text: "t".into() }),
            }),
        };
        // field 2 (LEN) { field 1 "hi", field 25 (LEN, tag 0xCA 0x01) { field 1 "t" } }
        let expected = [
            0x12, 0x0A, 0x0A, 0x02, b'h', b'i', 0xCA, 0x01, 0x03, 0x0A, 0x01, b't',
        ];
        assert_eq!(msg.encode_to_vec(), expected);
        assert_eq!(
            StreamUnifiedChatResponseWithTools::decode(&expected[..]).unwrap(),
            msg
        );
    }

    #[test]
    fn always_sent_defaults_are_written() {
        let req = StreamUnifiedChatRequest {
            web_tool: Some(String::new()),
            large_context: Some(false),
            supported_tools: vec![1],
            ..Default::default()
        };
        // field 8 "" ; field 29 packed [1] ; field 35 varint 0
        assert_eq!(
            req.encode_to_vec(),
            [0x42, 0x00, 0xEA, 0x01, 0x01, 0x01, 0x98, 0x02, 0x00]
        );
    }

    #[test]
    fn tool_call_fragments_decode() {
        // field 1 { 3 "c\nmc_m", 9 "mcp_custom_x", 10 "{}", 11 true }
        let mut inner = vec![0x1A, 0x06];
        inner.extend_from_slice(b"c\nmc_m");
        inner.extend_from_slice(&[0x4A, 0x0C]);
        inner.extend_from_slice(b"mcp_custom_x");
        inner.extend_from_slice(&[0x52, 0x02, b'{', b'}', 0x58, 0x01]);
        let mut bytes = vec![0x0A, inner.len() as u8];
        bytes.extend_from_slice(&inner);
        let msg = StreamUnifiedChatResponseWithTools::decode(&bytes[..]).unwrap();
        let call = msg.tool_call.unwrap();
        assert_eq!(call.tool_call_id, "c\nmc_m");
        assert_eq!(call.name, "mcp_custom_x");
        assert_eq!(call.raw_args, "{}");
        assert!(call.is_last);
    }
}
